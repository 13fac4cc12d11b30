"""Retention's rule (issue 31): due at exactly N days after the last activity, not a second
before; never while in care; a legal hold suspends both periods; records outlast words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.clinic_config import ClinicConfig
from bot.clinic_retention import RetentionConfig
from bot.domain.privacy.retention import Due, Removal, Retention, Standing, due

LAST = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
BOTH = Retention(words_days=30, records_days=90)


def _at(days: float) -> datetime:
    return LAST + timedelta(days=days)


def test_words_are_due_at_exactly_n_days() -> None:
    standing = Standing(last_activity=LAST)
    assert due(standing, BOTH, now=_at(30) - timedelta(seconds=1)) is None
    assert due(standing, BOTH, now=_at(30)) == Due(removal=Removal.WORDS, since=_at(30))
    assert due(standing, BOTH, now=_at(45)) == Due(removal=Removal.WORDS, since=_at(30))


def test_records_are_due_at_exactly_their_days_and_take_the_words() -> None:
    standing = Standing(last_activity=LAST)
    assert due(standing, BOTH, now=_at(90) - timedelta(seconds=1)).removal is Removal.WORDS  # type: ignore[union-attr]
    assert due(standing, BOTH, now=_at(90)) == Due(removal=Removal.RECORDS, since=_at(90))
    erased = Standing(last_activity=LAST, words_erased=True)
    assert due(erased, BOTH, now=_at(60)) is None  # nothing more before the records' time
    assert due(erased, BOTH, now=_at(90)) == Due(removal=Removal.RECORDS, since=_at(90))


def test_nothing_left_is_never_due_again() -> None:
    gone = Standing(last_activity=LAST, words_erased=True, has_records=False)
    assert due(gone, BOTH, now=_at(400)) is None


def test_unset_periods_keep_for_good() -> None:
    standing = Standing(last_activity=LAST)
    assert due(standing, Retention(), now=_at(10_000)) is None
    only_records = Retention(records_days=5)
    assert due(standing, only_records, now=_at(5)) == Due(removal=Removal.RECORDS, since=_at(5))


@pytest.mark.parametrize("standing", [Standing(last_activity=LAST, in_care=True)])
def test_a_patient_in_care_is_never_due(standing: Standing) -> None:
    assert due(standing, BOTH, now=_at(1_000)) is None
    assert due(standing, BOTH, now=_at(1_000), held_too=True) is None


def test_a_legal_hold_suspends_both() -> None:
    held = Standing(last_activity=LAST, legal_hold=True)
    assert due(held, BOTH, now=_at(1_000)) is None
    would = due(held, BOTH, now=_at(1_000), held_too=True)
    assert would == Due(removal=Removal.RECORDS, since=_at(90))


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"words_days": 0}, "greater than or equal to 1"),
        ({"records_days": -3}, "greater than or equal to 1"),
        ({"words_days": 1.5}, "integer"),
        ({"words_days": 60, "records_days": 30}, "records_days (30) must be at least words_days"),
        ({"keep": 3}, "Extra inputs are not permitted"),
    ],
)
def test_settings_are_checked_with_clear_messages(section: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        RetentionConfig.model_validate(section)


def test_settings_default_to_keep_at_half_past_three() -> None:
    clinic = ClinicConfig(id="x", name="X", timezone="UTC", contact_phone="555")
    assert clinic.retention.words_days is None and clinic.retention.records_days is None
    assert not clinic.retention.active and clinic.retention.run_at.isoformat() == "03:30:00"
    same = RetentionConfig(words_days=30, records_days=30)
    assert same.rule() == Retention(words_days=30, records_days=30)
