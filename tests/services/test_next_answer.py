"""The intake's guess that a tap is its check-in's next answer (`is_next_answer`), on which it
stops the tap's spinner wordless before the handlers run (issue 32). It must never say yes
where `record_tap` would not take the tap as the next answer, first given: such a tap's
spinner carries words (already saved, not the question now, changed to Yes, closed). Both
backends."""

from __future__ import annotations

import functools
from datetime import timedelta

from bot.domain.checkin_flow import Tap
from bot.services import checkin_states
from bot.services.answers import Answered, record_tap
from bot.services.checkin_states import is_next_answer
from storage.engine import Database
from storage.models import Checkin, Patient
from storage.states import CheckinStatus
from tests.services.test_answers import CLINIC, NOW, _patient_with_checkin

WALK = [  # (item, value, the next answer first given?) in the order the patient taps
    ("s1", "no", False),  # the mood is asked first
    ("mood", "6", True),
    ("mood", "7", False),  # a double tap: already saved
    ("s1", "no", True),
    ("s1", "yes", False),  # a correction: "changed to Yes"
    ("s2", "yes", True),
    ("s5", "yes", False),  # a Yes out of turn: stored, but not the question on screen
    ("s3", "no", True),
    ("s4", "no", True),
    ("s6", "no", True),
    ("note", "skip", False),  # the red flags come first
    ("rf", "no", True),
    ("note", "skip", True),
    ("s6", "no", False),  # the check-in is complete
]


async def _sent(db: Database) -> tuple[Patient, int]:
    """A check-in sent as the dispatcher sends it (its first question waiting), red flags on."""
    patient, checkin_id = await _patient_with_checkin(db, status=CheckinStatus.SENT, answers={})
    async with db.transaction() as session:
        checkin = await session.get(Checkin, checkin_id)
        assert checkin is not None
        checkin_states.mark_sent(checkin, patient=patient, clinic=CLINIC, now=NOW, message_id=40)
        checkin.asks_red_flags = True
    return patient, checkin_id


async def test_the_guess_agrees_with_the_record_through_a_whole_checkin(db: Database) -> None:
    patient, checkin_id = await _sent(db)
    for step, (item, value, first_next) in enumerate(WALK):
        tap = Tap(checkin_id, item, value)
        async with db.read() as session:
            guessed = await is_next_answer(session, patient=patient, tap=tap)
        accepted: list[bool] = []
        async with db.transaction() as session:
            result = await record_tap(
                session,
                patient=patient,
                clinic=CLINIC,
                tap=tap,
                now=NOW + timedelta(minutes=step + 1),
                update_id=None,
                on_accepted=functools.partial(accepted.append, True),
            )
        taken_first = bool(accepted) and isinstance(result, Answered) and item == result.waiting_for
        assert (guessed, taken_first) == (first_next, first_next), (step, item, value, result)


async def test_no_guess_for_another_patient_a_closed_checkin_or_a_value_not_offered(
    db: Database,
) -> None:
    patient, checkin_id = await _sent(db)
    other = Patient.model_validate({**patient.model_dump(), "id": (patient.id or 0) + 1})
    async with db.read() as session:
        assert await is_next_answer(session, patient=patient, tap=Tap(checkin_id, "mood", "6"))
        assert not await is_next_answer(session, patient=other, tap=Tap(checkin_id, "mood", "6"))
        assert not await is_next_answer(session, patient=patient, tap=Tap(checkin_id, "mood", "x"))
        assert not await is_next_answer(
            session, patient=patient, tap=Tap(checkin_id + 1, "mood", "6")
        )
    async with db.transaction() as session:
        checkin = await session.get(Checkin, checkin_id)
        assert checkin is not None
        checkin.status = CheckinStatus.MISSED
    async with db.read() as session:
        assert not await is_next_answer(session, patient=patient, tap=Tap(checkin_id, "mood", "6"))
