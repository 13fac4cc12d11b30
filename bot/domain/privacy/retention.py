"""What a clinic's retention makes due for one patient (issue 31; `[clinics.retention]`).

A period runs from the patient's last activity (see `storage.privacy.retention`); it is due
once `now - last_activity >= days` (exactly N days old is due). A patient still in care (a
check-in planned or open, a case not resolved, a caring contact still to send) is never due,
whatever their age; a legal hold suspends both periods. Records outlast words: deleting the
records removes the words with them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Removal(StrEnum):
    """What a retention run removes of a patient."""

    WORDS = "words"  # free text and contacts erased (data key destroyed); records kept
    RECORDS = "records"  # the structured records deleted too (the words first)


@dataclass(frozen=True, kw_only=True)
class Retention:
    """A clinic's periods in days; None keeps for good."""

    words_days: int | None = None
    records_days: int | None = None


@dataclass(frozen=True, kw_only=True)
class Standing:
    """One patient as retention sees them."""

    last_activity: datetime
    legal_hold: bool = False
    in_care: bool = False
    words_erased: bool = False  # erased already (by request or an earlier run)
    has_records: bool = True  # any structured record left to delete


@dataclass(frozen=True, kw_only=True)
class Due:
    """What is due for a patient, and since when."""

    removal: Removal
    since: datetime


def _since(last: datetime, days: int | None, now: datetime) -> datetime | None:
    if days is None:
        return None
    since = last + timedelta(days=days)
    return since if since <= now else None


def due(
    standing: Standing, rules: Retention, *, now: datetime, held_too: bool = False
) -> Due | None:
    """What retention removes of the patient at `now`, or None. `held_too` answers what would
    be due but for a legal hold (for the preview's list of held patients)."""
    if standing.in_care or (standing.legal_hold and not held_too):
        return None
    records = _since(standing.last_activity, rules.records_days, now)
    if records is not None and standing.has_records:
        return Due(removal=Removal.RECORDS, since=records)
    words = _since(standing.last_activity, rules.words_days, now)
    if words is not None and not standing.words_erased:
        return Due(removal=Removal.WORDS, since=words)
    return None
