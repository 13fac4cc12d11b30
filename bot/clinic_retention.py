"""A clinic's retention (`[clinics.retention]`, issue 31; README "Privacy"): how long a patient's
words and contacts, and then their structured records, are kept after their last activity.
Absent, kept: the clinic decides (HIPAA leaves medical-record retention to state law)."""

from __future__ import annotations

from datetime import time

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.domain.privacy.retention import Retention

MAX_DAYS = 36_500  # a hundred years: a typo's guard, not a rule


class RetentionConfig(BaseModel):
    """Days after a patient's last activity; unset keeps for good. A legal hold suspends both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    words_days: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DAYS,
        description="Days after the last activity until the patient's free text and contacts are "
        "erased (their data key destroyed); unset, kept.",
    )
    records_days: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DAYS,
        description="Days after the last activity until the patient's structured records "
        "(answers, check-ins, infusions, cases, plans) are deleted; unset, kept.",
    )
    run_at: time = Field(
        default=time(3, 30),
        description="Clinic-local time of the nightly retention run (once a day across every "
        "instance); it removes nothing while both periods are unset.",
    )

    @model_validator(mode="after")
    def _records_outlast_words(self) -> RetentionConfig:
        words, records = self.words_days, self.records_days
        if words is not None and records is not None and records < words:
            raise ValueError(
                f"records_days ({records}) must be at least words_days ({words}): deleting the "
                "records removes the words with them"
            )
        return self

    def rule(self) -> Retention:
        return Retention(words_days=self.words_days, records_days=self.records_days)

    @property
    def active(self) -> bool:
        return self.words_days is not None or self.records_days is not None
