"""A check-in's state changes, each in one place (`bot.services.checkin_states`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.clinic_config import parse_clinics
from bot.services import checkin_states
from storage.models import Checkin, Patient
from storage.states import CheckinKind, CheckinStatus

NOW = datetime(2026, 6, 3, 21, 30, tzinfo=UTC)
CLINIC = parse_clinics(
    """
[[clinics]]
id = "north"
name = "North"
timezone = "UTC"
contact_phone = "+1 555"
quiet_hours = { start = "22:00", end = "08:00" }
""",
    source="t",
).clinic("north")
PATIENT = Patient(id=1, clinic_id="north", ref="P-1", timezone="UTC", created_at=NOW)


def _scheduled() -> Checkin:
    return Checkin(
        id=5,
        patient_id=1,
        kind=CheckinKind.OFFSET,
        nominal_at=NOW,
        due_at=NOW,
        created_at=NOW,
        lease_owner="i-1",
        lease_until=NOW + timedelta(minutes=1),
    )


def test_sent_opens_the_answer_window_and_a_reminder_outside_quiet_hours() -> None:
    checkin = _scheduled()
    checkin_states.mark_sent(checkin, patient=PATIENT, clinic=CLINIC, now=NOW, message_id=77)
    assert checkin.status == CheckinStatus.SENT and checkin.sent_at == NOW
    assert checkin.message_id == 77 and checkin.current_item == "mood"
    assert checkin.closes_at == NOW + CLINIC.checkins.missed_after
    # Due at 23:30 by the default reminder delay, it waits for quiet hours to end at 08:00.
    assert checkin.reminder_due_at == datetime(2026, 6, 4, 8, 0, tzinfo=UTC)


def test_an_answer_moves_to_in_progress_and_the_last_one_completes() -> None:
    checkin = _scheduled()
    checkin_states.record_progress(checkin, next_item="q1", now=NOW)
    assert (checkin.status, checkin.current_item, checkin.closed_at) == (
        CheckinStatus.IN_PROGRESS,
        "q1",
        None,
    )
    checkin_states.record_progress(checkin, next_item=None, now=NOW)
    assert (checkin.status, checkin.current_item, checkin.closed_at) == (
        CheckinStatus.COMPLETED,
        None,
        NOW,
    )


@pytest.mark.parametrize(
    ("change", "status"),
    [
        (checkin_states.cancel, CheckinStatus.CANCELLED),
        (checkin_states.supersede, CheckinStatus.SUPERSEDED),
    ],
)
def test_an_unsent_checkin_ends_without_its_lease(change, status) -> None:  # type: ignore[no-untyped-def]
    checkin = _scheduled()
    change(checkin, now=NOW, reason="why")
    assert (checkin.status, checkin.closed_at, checkin.last_error) == (status, NOW, "why")
    assert checkin.lease_owner is None and checkin.lease_until is None


def test_a_refused_checkin_fails_with_telegrams_words() -> None:
    checkin = _scheduled()
    checkin_states.fail(checkin, now=NOW, error="Bad Request: chat not found")
    assert checkin.status == CheckinStatus.FAILED
    assert checkin.last_error == "Bad Request: chat not found" and checkin.lease_owner is None
