"""A button answer, however it arrives (`bot.services.answers.record_tap`): no Yes is dropped,
a repeat changes nothing, the crisis card is due once per check-in. Both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.domain.checkin_flow import Tap
from bot.services.answers import AlreadySaved, Answered, LateYes, NotCurrent, record_tap
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import Answer, Case, Checkin, Patient
from storage.states import CaseTrigger, CheckinKind, CheckinStatus, Level, PatientStatus
from tests.auxil.harness import north_clinic

NOW = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)
CLINIC = north_clinic()


async def _patient_with_checkin(
    db: Database, *, status: CheckinStatus, answers: dict[str, str]
) -> tuple[Patient, int]:
    async with db.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("north", "North", "UTC", "x")], now=NOW)
        patient = Patient(
            clinic_id="north",
            ref="P-1",
            timezone="UTC",
            status=PatientStatus.ACTIVE,
            chat_id=501,
            created_at=NOW,
        )
        session.add(patient)
        await session.flush()
        assert patient.id is not None
        checkin = Checkin(
            patient_id=patient.id,
            kind=CheckinKind.OFFSET,
            offset_seconds=86400,
            nominal_at=NOW,
            due_at=NOW,
            status=status,
            sent_at=NOW,
            message_id=40,
            closes_at=NOW + timedelta(hours=4),
            created_at=NOW,
        )
        session.add(checkin)
        await session.flush()
        assert checkin.id is not None
        for item, value in answers.items():
            session.add(
                Answer(
                    patient_id=patient.id,
                    checkin_id=checkin.id,
                    item_id=item,
                    value=value,
                    instrument_id="t",
                    instrument_version="1",
                    answered_at=NOW,
                )
            )
    return patient, checkin.id


async def _tap(  # type: ignore[no-untyped-def]
    db: Database,
    patient: Patient,
    checkin_id: int,
    item: str,
    value: str,
    accepted: list[int] | None = None,
):
    async with db.transaction() as session:
        return await record_tap(
            session,
            patient=patient,
            clinic=CLINIC,
            tap=Tap(checkin_id, item, value),
            now=NOW + timedelta(minutes=1),
            update_id=None,
            on_accepted=None if accepted is None else lambda: accepted.append(len(accepted)),
        )


async def _stored(db: Database) -> list[tuple[int | None, str, str]]:
    async with db.transaction() as session:
        rows = (await session.scalars(select(Answer).order_by(Answer.id))).all()
    return [(a.checkin_id, a.item_id, a.value) for a in rows]


async def test_a_yes_after_a_no_replaces_it_and_is_raised(db: Database) -> None:
    patient, checkin_id = await _patient_with_checkin(
        db, status=CheckinStatus.IN_PROGRESS, answers={"mood": "6", "s1": "no"}
    )
    result = await _tap(db, patient, checkin_id, "s1", "yes")
    assert isinstance(result, Answered)
    assert result.corrected_from == "no" and result.card and result.positive
    assert result.waiting_for == "s2" and result.next_item == "s2"
    assert not result.changed_course  # item 2 is still the question on screen
    assert await _stored(db) == [(checkin_id, "mood", "6"), (checkin_id, "s1", "yes")]
    assert result.raised is not None and result.raised.case.level == Level.LOW
    # A second finding in the same check-in does not show the whole card again.
    second = await _tap(db, patient, checkin_id, "s2", "yes")
    assert isinstance(second, Answered) and second.positive and not second.card


async def test_a_no_after_a_yes_changes_nothing(db: Database) -> None:
    patient, checkin_id = await _patient_with_checkin(
        db, status=CheckinStatus.IN_PROGRESS, answers={"mood": "6", "s1": "yes"}
    )
    result = await _tap(db, patient, checkin_id, "s1", "no")
    assert result == AlreadySaved("s1", "yes", 40)
    assert (checkin_id, "s1", "yes") in await _stored(db)


async def test_a_double_tap_on_mood_says_what_is_saved(db: Database) -> None:
    patient, checkin_id = await _patient_with_checkin(
        db, status=CheckinStatus.IN_PROGRESS, answers={"mood": "5"}
    )
    assert await _tap(db, patient, checkin_id, "mood", "7") == AlreadySaved("mood", "5", 40)


async def test_a_no_on_a_question_not_asked_now_is_not_current(db: Database) -> None:
    patient, checkin_id = await _patient_with_checkin(
        db, status=CheckinStatus.IN_PROGRESS, answers={"mood": "5"}
    )
    assert await _tap(db, patient, checkin_id, "s4", "no") == NotCurrent(40)
    assert await _stored(db) == [(checkin_id, "mood", "5")]


async def test_a_yes_out_of_turn_is_stored_and_the_check_in_asks_what_it_needs(
    db: Database,
) -> None:
    patient, checkin_id = await _patient_with_checkin(
        db, status=CheckinStatus.IN_PROGRESS, answers={"mood": "5", "s1": "no", "s2": "no"}
    )
    result = await _tap(db, patient, checkin_id, "s2", "yes")  # a double tap: No, then Yes
    assert isinstance(result, Answered) and result.corrected_from == "no"
    assert result.waiting_for == "s6" and result.next_item == "s3" and result.changed_course


async def test_a_yes_on_a_closed_checkin_after_its_no_is_a_late_yes(db: Database) -> None:
    patient, checkin_id = await _patient_with_checkin(
        db, status=CheckinStatus.ABANDONED, answers={"mood": "5", "s1": "no"}
    )
    result = await _tap(db, patient, checkin_id, "s1", "yes")
    assert isinstance(result, LateYes) and result.card
    assert result.raised is not None
    assert "answered no in the check-in" in result.raised.case.reason
    assert result.raised.case.trigger == CaseTrigger.CHECKIN
    assert (None, "s1", "yes") in await _stored(db)
    # The same Yes again is kept too, but neither pages again nor shows the card again.
    again = await _tap(db, patient, checkin_id, "s1", "yes")
    assert isinstance(again, LateYes) and not again.card
    assert again.raised is not None and not again.raised.page_now
    async with db.transaction() as session:
        cases = (await session.scalars(select(Case))).all()
    assert len(cases) == 1


async def test_a_late_yes_shows_the_card_again_though_its_checkin_showed_it(
    db: Database,
) -> None:
    patient, checkin_id = await _patient_with_checkin(
        db, status=CheckinStatus.ABANDONED, answers={"mood": "5", "s1": "yes"}
    )
    async with db.transaction() as session:
        checkin = await session.get(Checkin, checkin_id)
        assert checkin is not None
        checkin.crisis_card_at, checkin.closed_at = NOW, NOW + timedelta(seconds=30)
    result = await _tap(db, patient, checkin_id, "s2", "yes")
    assert isinstance(result, LateYes) and result.card


async def test_a_no_on_a_closed_checkin_is_refused(db: Database) -> None:
    patient, checkin_id = await _patient_with_checkin(db, status=CheckinStatus.MISSED, answers={})
    assert await _tap(db, patient, checkin_id, "s1", "no") is None


async def test_only_a_first_next_answer_is_accepted_before_it_is_written(db: Database) -> None:
    """`on_accepted` (the handler stops the spinner wordless there) fires for the next answer
    given the first time, never for a correction, a repeat or a question not asked now: those
    get words the patient must see."""
    patient, checkin_id = await _patient_with_checkin(
        db, status=CheckinStatus.IN_PROGRESS, answers={"mood": "5", "s1": "no"}
    )
    accepted: list[int] = []
    assert await _tap(db, patient, checkin_id, "mood", "7", accepted) == AlreadySaved(
        "mood", "5", 40
    )
    assert await _tap(db, patient, checkin_id, "s4", "no", accepted) == NotCurrent(40)
    corrected = await _tap(db, patient, checkin_id, "s1", "yes", accepted)
    assert isinstance(corrected, Answered) and corrected.corrected_from == "no"
    assert accepted == []
    first = await _tap(db, patient, checkin_id, "s2", "no", accepted)
    assert isinstance(first, Answered) and first.corrected_from is None
    assert accepted == [0]
