"""A clinic's caring contacts (`[clinics.caring]`, CLINICAL.md §12), part of `ClinicConfig`."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.domain.caring import Offset, SendWindow, offsets, refuse_question

DEFAULT_CARING_TEXT = (
    "Thinking of you today and hoping things are going as well as they can. "
    "No need to reply; we are glad you are part of our clinic."
)


class CaringConfig(BaseModel):
    """Brief caring messages that ask nothing, on a published schedule (CLINICAL.md §12)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    schedule: Literal["comtois11", "va9", "custom"] = Field(
        default="comtois11",
        description='"comtois11": day 1, week 1, months 1–4, then every other month to 12; '
        '"va9": day 1, months 1–4, then every other month to 12; "custom": custom_days.',
    )
    custom_days: list[Annotated[int, Field(ge=1, le=730)]] = Field(
        default_factory=list, description="Days after the start, for schedule = custom."
    )
    texts: list[Annotated[str, Field(max_length=600)]] = Field(
        default_factory=lambda: [DEFAULT_CARING_TEXT],
        min_length=1,
        description="One text per message in order; the last is used for the rest.",
    )
    signed_by: str = Field(
        default="your care team",
        min_length=1,
        max_length=80,
        description="The named clinician the messages are signed with.",
    )
    staffed_hours: str = Field(
        default="we read messages Mon–Fri 9–5",
        max_length=120,
        description="The footer's staffed hours.",
    )
    crisis_line: str = Field(
        default="call or text 988", min_length=2, max_length=120, description="The footer's line."
    )
    window_start: time = time(10, 0)
    window_end: time = time(18, 0)
    series_end_days: int = Field(
        default=21, ge=1, le=365, description="No infusion for this many days starts a track."
    )

    @field_validator("texts")
    @classmethod
    def _no_questions(cls, value: list[str]) -> list[str]:
        for number, text in enumerate(value, start=1):
            problem = refuse_question(text)
            if problem:
                raise ValueError(f"message {number}: {problem}")
        return value

    @model_validator(mode="after")
    def _shape(self) -> CaringConfig:
        SendWindow(self.window_start, self.window_end)  # ValueError names the problem
        if self.schedule == "custom" and not self.custom_days:
            raise ValueError('schedule = "custom" needs custom_days')
        return self

    def window(self) -> SendWindow:
        return SendWindow(self.window_start, self.window_end)

    def offsets(self) -> tuple[Offset, ...]:
        return offsets(self.schedule, tuple(self.custom_days))

    def text_of(self, number: int) -> str:
        """Message `number` (from 1) as the patient reads it: text, signature and footer."""
        body = self.texts[min(number, len(self.texts)) - 1].strip()
        footer = f"In a crisis, {self.crisis_line}. {self.staffed_hours[:1].upper()}"
        footer += f"{self.staffed_hours[1:]}."
        return f"{body}\n— {self.signed_by}\n\n{footer}"
