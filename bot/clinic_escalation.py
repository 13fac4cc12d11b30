"""A clinic's escalation ladders and paging services, part of its settings (`ClinicConfig`).

Every default is CLINICAL.md §8's; a clinic overrides any of them."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.domain.channels import ChannelKind
from bot.domain.levels import Level

MAX_RUNG_AFTER = timedelta(days=7)  # a ladder rung, and the human-contact target


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


PageTarget = Literal["queue", "primary", "backup", "everyone"]


class EscalationStep(_Strict):
    """One rung of a ladder: when unacknowledged this long after opening, notify these."""

    after: timedelta | Literal["next_business_day"]
    notify: list[PageTarget] = Field(min_length=1, description="Whom this rung notifies.")
    channels: list[ChannelKind] = Field(
        default_factory=lambda: [ChannelKind.TELEGRAM],
        min_length=1,
        description="How: Telegram; e-mail to clinicians with an address (AFTERCARE_SMTP_URL); "
        "pager: a paging-service event (PagerDuty Events API v2) per routing key; webhook: the "
        "clinic's signed webhook.",
    )

    @field_validator("after")
    @classmethod
    def _within_a_week(
        cls, value: timedelta | Literal["next_business_day"]
    ) -> timedelta | Literal["next_business_day"]:
        if isinstance(value, timedelta) and not timedelta(0) <= value <= MAX_RUNG_AFTER:
            raise ValueError("a rung fires between PT0S and 7 days after the case opened")
        return value


class BusinessHours(_Strict):
    start: time = time(9, 0)
    days: list[Annotated[int, Field(ge=1, le=7)]] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5], description="ISO weekdays, Monday = 1."
    )


def _rung(
    after: timedelta | Literal["next_business_day"],
    notify: list[PageTarget],
    channels: list[ChannelKind] | None = None,
) -> EscalationStep:
    return EscalationStep(after=after, notify=notify, channels=channels or [ChannelKind.TELEGRAM])


class EscalationConfig(_Strict):
    """Who is told, and when, per level (CLINICAL.md §8)."""

    high: list[EscalationStep] = Field(
        default_factory=lambda: [  # Telegram and the paging service at once
            _rung(timedelta(0), ["primary"], [ChannelKind.TELEGRAM, ChannelKind.PAGER]),
            _rung(timedelta(minutes=5), ["primary", "backup"]),
            _rung(timedelta(minutes=10), ["everyone"]),
        ]
    )
    moderate: list[EscalationStep] = Field(
        default_factory=lambda: [  # Telegram, then e-mail too at the backup rung
            _rung(timedelta(0), ["primary"]),
            _rung(timedelta(hours=4), ["backup"], [ChannelKind.TELEGRAM, ChannelKind.EMAIL]),
        ]
    )
    low: list[EscalationStep] = Field(
        default_factory=lambda: [  # the queue (and the daily digest, when set)
            _rung(timedelta(0), ["queue"]),
            _rung("next_business_day", ["primary"]),
        ]
    )
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    human_contact_within: timedelta = Field(
        default=timedelta(hours=12),
        le=MAX_RUNG_AFTER,
        description="A human should reach a high-risk patient by then.",
    )

    @field_validator("high", "moderate", "low")
    @classmethod
    def _starts_now(cls, value: list[EscalationStep]) -> list[EscalationStep]:
        if not value or value[0].after != timedelta(0):
            raise ValueError('a ladder\'s first step must have after = "PT0S"')
        return value


class OutreachConfig(_Strict):
    """Reaching the patient after the page (CLINICAL.md §10): targets per level. An acknowledged
    case that passes one without the outreach recorded goes back up its ladder."""

    high_first_attempt: timedelta = Field(
        default=timedelta(minutes=30),
        gt=timedelta(0),
        le=timedelta(hours=12),
        description="High: a first contact attempt within this of the first page.",
    )
    high_reached: timedelta = Field(
        default=timedelta(hours=12),
        gt=timedelta(0),
        le=timedelta(hours=12),
        description="High: the patient reached (or a reason recorded) within this of the first "
        "page; never longer than 12 h (nor than escalation.human_contact_within).",
    )
    moderate_reached: timedelta = Field(
        default=timedelta(hours=24),
        gt=timedelta(0),
        le=MAX_RUNG_AFTER,
        description="Moderate: the patient reached within this of the first page.",
    )
    low_reached_business_days: int = Field(
        default=3,
        ge=1,
        le=20,
        description="Low: the patient reached within this many business days "
        "(escalation.business_hours.days) of the case entering the queue.",
    )
    again_after: timedelta = Field(
        default=timedelta(minutes=30),
        ge=timedelta(minutes=5),
        le=timedelta(hours=24),
        description="After a target has passed: how long an acknowledgement or a logged attempt "
        "holds the case before it goes back up the ladder again.",
    )

    @model_validator(mode="after")
    def _attempt_before_reached(self) -> OutreachConfig:
        if self.high_first_attempt > self.high_reached:
            raise ValueError("high_first_attempt must not be later than high_reached")
        return self


class PagingConfig(_Strict):
    """Paging services and the clinic's own webhook, for rungs whose channels name them."""

    events_url: str = Field(
        default="https://events.pagerduty.com/v2/enqueue",
        pattern=r"^https?://",
        description="A PagerDuty Events API v2 compatible endpoint (GoAlert's works too).",
    )
    routing_key: str | None = Field(
        default=None, max_length=128, description="Used for clinicians without their own key."
    )
    routing_keys: dict[Level, str] = Field(
        default_factory=dict, description="Per level, before the clinic's `routing_key`."
    )
    webhook_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="The clinic's webhook: JSON, signed with AFTERCARE_PAGE_WEBHOOK_SECRET.",
    )
    digest_time: time | None = Field(
        default=None,
        description="Clinic-local time of a daily e-mail of the open cases to every clinician "
        "with an address (the low queue's reminder); unset, none.",
    )
