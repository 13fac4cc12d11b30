"""The settings form's retention fields (`[clinics.retention]`, README "Privacy"): the clinic's
values to fields and back, and where a retention problem is shown. Pure functions; the
validation is the clinic file's (`RetentionConfig`), an empty period keeping for good."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bot.clinic_retention import RetentionConfig
from bot.i18n import C_

WORDS = "retention.words_days"
RECORDS = "retention.records_days"
RUN_AT = "retention.run_at"
_WHOLE = re.compile(r"-?\d{1,9}")  # the bounds are the model's ("at most 36500 days")


def retention_values(retention: RetentionConfig) -> dict[str, Any]:
    """The form's retention fields; an unset period is an empty field."""
    return {
        WORDS: "" if retention.words_days is None else retention.words_days,
        RECORDS: "" if retention.records_days is None else retention.records_days,
        RUN_AT: retention.run_at,
    }


def read_retention(text: Callable[[str], str], errors: dict[str, str]) -> dict[str, Any]:
    """The retention fields as the clinic file holds them; a problem goes to `errors`."""
    return {
        "words_days": _optional_number(text, errors, WORDS),
        "records_days": _optional_number(text, errors, RECORDS),
        "run_at": text(RUN_AT),
    }


def _optional_number(text: Callable[[str], str], errors: dict[str, str], key: str) -> int | None:
    """A whole number, or None for an empty field (kept for good)."""
    raw = text(key)
    if not raw:
        return None
    if not _WHOLE.fullmatch(raw):
        errors[key] = C_("enter a whole number")
        return None
    return int(raw)


def retention_field(parts: list[str]) -> str:
    """The form field a retention validation error belongs beside: the section's own rule
    (records kept at least as long as the words) beside the records' days."""
    if len(parts) > 1 and parts[1] in {"words_days", "records_days", "run_at"}:
        return f"retention.{parts[1]}"
    return RECORDS
