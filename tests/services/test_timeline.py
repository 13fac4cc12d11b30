"""The console's patient timeline (`bot.services.timeline`): order, what each entry holds,
one clinic only, and a query count that does not grow with the history. Both backends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from bot.services.timeline import (
    CaseEntry,
    CheckinEntry,
    InfusionEntry,
    LateAnswerEntry,
    MessageEntry,
    Timeline,
    patient_timeline,
)
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import Answer, Case, CaseMessage, Checkin, Clinician, Infusion, Page, Patient
from storage.states import (
    CaseStatus,
    CaseTrigger,
    CheckinKind,
    CheckinStatus,
    InfusionStatus,
    Level,
    MessageDirection,
    MessageStatus,
    PageStatus,
    PatientStatus,
)

NOW = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)
ENDED = NOW - timedelta(days=3)  # the infusion
HOUR = timedelta(hours=1)


@dataclass
class World:
    patient: Patient
    four_hour: Checkin
    high_case: Case


def _answer(
    patient: Patient, checkin: Checkin | None, item: str, value: str, at: datetime
) -> Answer:
    assert patient.id is not None
    return Answer(
        patient_id=patient.id,
        checkin_id=checkin.id if checkin else None,
        item_id=item,
        value=value,
        instrument_id="x",
        instrument_version="1",
        answered_at=at,
    )


def _checkin(patient: Patient, infusion: Infusion | None, **fields: Any) -> Checkin:
    assert patient.id is not None
    due = fields.pop("due_at")
    return Checkin(
        patient_id=patient.id,
        infusion_id=infusion.id if infusion else None,
        nominal_at=due,
        due_at=due,
        created_at=ENDED,
        **fields,
    )


def _daily(
    patient: Patient, infusion: Infusion, day: int, due: datetime, status: CheckinStatus
) -> Checkin:
    return _checkin(patient, infusion, kind=CheckinKind.DAILY, day=day, due_at=due, status=status)


def _case(patient: Patient, **fields: Any) -> Case:
    assert patient.id is not None
    return Case(
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        ladder_started_at=fields["opened_at"],
        **fields,
    )


def _page(
    case: Case, clinician: Clinician | int, step: int, status: PageStatus, at: datetime
) -> Page:
    clinician_id = clinician if isinstance(clinician, int) else clinician.id
    assert case.id is not None and clinician_id is not None
    return Page(case_id=case.id, clinician_id=clinician_id, step=step, status=status, sent_at=at)


def _clinician(name: str, user: int) -> Clinician:
    return Clinician(
        clinic_id="north", name=name, telegram_user_id=user, chat_id=user, created_at=NOW
    )


async def _world(db: Database) -> World:
    """North's P-1: an infusion, a 4-hour check-in answered in full with the card shown, a day-1
    check-in missed while the bot was down, a cancelled and two planned ones, a message, a late
    Yes, a high case paged, taken and resolved, and an open case raised by the message. South
    has its own P-1 with a check-in of its own."""
    async with db.transaction() as session:
        await sync_clinics(
            session,
            clinics=[
                ClinicRow("north", "North", "UTC", "x"),
                ClinicRow("south", "South", "UTC", "x"),
            ],
            now=NOW,
        )
        patient = Patient(
            clinic_id="north",
            ref="P-1",
            timezone="America/New_York",
            baseline_mood=6,
            protocol="standard",
            status=PatientStatus.ACTIVE,
            consented_at=ENDED - timedelta(days=7),
            created_at=ENDED - timedelta(days=8),
        )
        other = Patient(clinic_id="south", ref="P-1", timezone="UTC", created_at=NOW)
        ada, bo = _clinician("Dr Ada", 1), _clinician("Dr Bo", 2)
        session.add_all([patient, other, ada, bo])
        await session.flush()
        assert patient.id is not None and other.id is not None
        infusion = Infusion(
            patient_id=patient.id,
            ended_at=ENDED,
            protocol="standard",
            recorded_at=ENDED,
            recorded_by="cli",
        )
        session.add(infusion)
        await session.flush()
        four_hour = _checkin(
            patient,
            infusion,
            kind=CheckinKind.OFFSET,
            offset_seconds=4 * 3600,
            due_at=ENDED + 4 * HOUR,
            sent_at=ENDED + 4 * HOUR,
            closed_at=ENDED + 4 * HOUR + timedelta(minutes=6),
            status=CheckinStatus.COMPLETED,
            risk_level=Level.HIGH,
            crisis_card_at=ENDED + 4 * HOUR + timedelta(minutes=3),
        )
        day_one = _checkin(
            patient,
            infusion,
            kind=CheckinKind.DAILY,
            day=1,
            due_at=ENDED + 20 * HOUR,
            status=CheckinStatus.MISSED,
            closed_at=ENDED + 30 * HOUR,
        )
        cancelled = _daily(patient, infusion, 2, NOW - HOUR, CheckinStatus.CANCELLED)
        planned = _daily(patient, infusion, 3, NOW + 5 * HOUR, CheckinStatus.SCHEDULED)
        later = _daily(patient, infusion, 4, NOW + 29 * HOUR, CheckinStatus.SCHEDULED)
        theirs = _checkin(
            other,
            None,
            kind=CheckinKind.ADHOC,
            due_at=NOW - HOUR,
            sent_at=NOW - HOUR,
            status=CheckinStatus.COMPLETED,
        )
        session.add_all([four_hour, day_one, cancelled, planned, later, theirs])
        await session.flush()
        at = ENDED + 4 * HOUR
        # Stored out of question order on purpose: the timeline puts them in question order.
        session.add_all(
            [
                _answer(patient, four_hour, "note", "rough night", at + timedelta(minutes=5)),
                _answer(patient, four_hour, "mood", "3", at + timedelta(minutes=1)),
                _answer(patient, four_hour, "s2", "yes", at + timedelta(minutes=3)),
                _answer(patient, four_hour, "s1", "yes", at + timedelta(minutes=2)),
                _answer(patient, four_hour, "s6", "no", at + timedelta(minutes=4)),
                _answer(patient, None, "message", "I can't sleep", NOW - 2 * HOUR),
                _answer(patient, None, "s6", "yes", NOW - HOUR),  # a late Yes
                _answer(other, theirs, "mood", "9", NOW - HOUR),
                _answer(other, None, "message", "south's words", NOW - HOUR),
            ]
        )
        high_case = _case(
            patient,
            checkin_id=four_hour.id,
            level=Level.HIGH,
            trigger=CaseTrigger.CHECKIN,
            reason="[…] C-SSRS item 2 = Yes",
            status=CaseStatus.RESOLVED,
            opened_at=at + timedelta(minutes=3),
            acknowledged_at=at + timedelta(minutes=12),
            acknowledged_by=bo.id,
            resolved_at=at + 2 * HOUR,
            resolved_by=ada.id,
            resolution_note="Called; safety plan in place",
        )
        message_case = _case(
            patient,
            level=Level.MODERATE,
            trigger=CaseTrigger.MESSAGE,
            reason="crisis words in a message",
            quote="I can't sleep",
            opened_at=NOW - 2 * HOUR,
        )
        session.add_all([high_case, message_case])
        await session.flush()
        session.add(_page(high_case, ada, 0, PageStatus.FAILED, at + timedelta(minutes=3)))
        session.add(_page(high_case, bo, 1, PageStatus.SENT, at + timedelta(minutes=8)))
    return World(patient, four_hour, high_case)


async def _timeline(
    db: Database, clinic_id: str = "north", ref: str = "P-1", **kw: Any
) -> Timeline | None:
    async with db.transaction() as session:
        return await patient_timeline(session, clinic_id=clinic_id, patient_ref=ref, now=NOW, **kw)


async def test_entries_newest_first_with_the_patient_and_next_planned(db: Database) -> None:
    world = await _world(db)
    timeline = await _timeline(db)
    assert timeline is not None
    assert [entry.kind for entry in timeline.entries] == [
        "late_answer",  # NOW - 1 h
        "case",  # NOW - 2 h, raised by the message at the same instant: shown above it
        "message",
        "checkin",  # day 1, missed while down: placed at its due time
        "case",  # 4-hour + 3 min
        "checkin",  # 4-hour
        "infusion",
    ]
    times = [entry.at for entry in timeline.entries]
    assert times == sorted(times, reverse=True)
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in times)
    patient = timeline.patient
    assert patient.id == world.patient.id and patient.ref == "P-1"
    assert (patient.status, patient.status_label) == (PatientStatus.ACTIVE, "active")
    assert (patient.timezone, patient.baseline_mood, patient.protocol) == (
        "America/New_York",
        6,
        "standard",
    )
    assert patient.consented_at == ENDED - timedelta(days=7)
    assert timeline.next_planned == NOW + 5 * HOUR  # planned ones are not entries
    assert timeline.since is None


async def test_checkins_carry_their_answers_in_question_order(db: Database) -> None:
    await _world(db)
    timeline = await _timeline(db)
    assert timeline is not None
    checkins = [e for e in timeline.entries if isinstance(e, CheckinEntry)]
    day_one, four_hour = checkins
    assert four_hour.label == "4-hour check-in" and four_hour.status == CheckinStatus.COMPLETED
    assert (four_hour.due_at, four_hour.sent_at) == (ENDED + 4 * HOUR, ENDED + 4 * HOUR)
    assert four_hour.closed_at == ENDED + 4 * HOUR + timedelta(minutes=6)
    assert four_hour.risk_level == Level.HIGH and four_hour.crisis_card_shown
    assert [(a.item_id, a.value) for a in four_hour.answers] == [
        ("mood", "3"),
        ("s1", "yes"),
        ("s2", "yes"),
        ("s6", "no"),
        ("note", "rough night"),
    ]
    assert [a.label for a in four_hour.answers] == [
        "Mood",
        "C-SSRS 1",
        "C-SSRS 2",
        "C-SSRS 6",
        "Note",
    ]
    assert [a.shown for a in four_hour.answers] == ["3/10", "Yes", "Yes", "No", "rough night"]
    assert (
        four_hour.answers[2].question == "Have you actually had any thoughts of killing yourself?"
    )
    assert day_one.label == "day 1 daily check-in" and day_one.status == CheckinStatus.MISSED
    assert (day_one.sent_at, day_one.at, day_one.answers) == (None, ENDED + 20 * HOUR, ())
    assert not day_one.crisis_card_shown


async def test_messages_late_answers_and_the_infusion(db: Database) -> None:
    await _world(db)
    timeline = await _timeline(db)
    assert timeline is not None
    (message,) = [e for e in timeline.entries if isinstance(e, MessageEntry)]
    assert (message.text, message.at) == ("I can't sleep", NOW - 2 * HOUR)
    (late,) = [e for e in timeline.entries if isinstance(e, LateAnswerEntry)]
    assert (late.answer.item_id, late.answer.value, late.answer.label) == ("s6", "yes", "C-SSRS 6")
    assert late.at == NOW - HOUR
    (infusion,) = [e for e in timeline.entries if isinstance(e, InfusionEntry)]
    assert (infusion.ended_at, infusion.protocol, infusion.status) == (
        ENDED,
        "standard",
        InfusionStatus.ACTIVE,
    )


async def test_cases_with_pages_acknowledgement_and_resolution(db: Database) -> None:
    world = await _world(db)
    timeline = await _timeline(db)
    assert timeline is not None
    opened, resolved = [e for e in timeline.entries if isinstance(e, CaseEntry)]
    assert resolved.case_id == world.high_case.id and resolved.checkin_id == world.four_hour.id
    assert (resolved.level, resolved.trigger, resolved.status) == (
        Level.HIGH,
        CaseTrigger.CHECKIN,
        CaseStatus.RESOLVED,
    )
    assert [(p.clinician, p.step, p.status, p.delivered) for p in resolved.pages] == [
        ("Dr Ada", 0, PageStatus.FAILED, False),
        ("Dr Bo", 1, PageStatus.SENT, True),
    ]
    assert resolved.pages[1].sent_at == ENDED + 4 * HOUR + timedelta(minutes=8)
    assert (resolved.acknowledged_by, resolved.acknowledged_at) == (
        "Dr Bo",
        ENDED + 4 * HOUR + timedelta(minutes=12),
    )
    assert (resolved.resolved_by, resolved.resolved_at) == ("Dr Ada", ENDED + 6 * HOUR)
    assert resolved.resolution_note == "Called; safety plan in place"
    assert (opened.trigger, opened.quote, opened.status) == (
        CaseTrigger.MESSAGE,
        "I can't sleep",
        CaseStatus.OPEN,
    )
    assert (opened.pages, opened.acknowledged_by, opened.resolved_by) == ((), None, None)


async def test_days_keeps_the_recent_entries_only(db: Database) -> None:
    await _world(db)
    timeline = await _timeline(db, days=1)
    assert timeline is not None and timeline.since == NOW - timedelta(days=1)
    assert [entry.kind for entry in timeline.entries] == ["late_answer", "case", "message"]
    assert timeline.next_planned == NOW + 5 * HOUR


async def test_another_clinics_patient_is_never_shown(db: Database) -> None:
    world = await _world(db)
    assert await _timeline(db, clinic_id="west") is None
    assert await _timeline(db, ref="P-2") is None
    south = await _timeline(db, clinic_id="south")
    assert south is not None and south.patient.id != world.patient.id
    assert [e.kind for e in south.entries] == ["message", "checkin"]
    checkin = south.entries[1]
    assert isinstance(checkin, CheckinEntry) and checkin.label == "check-in started by the patient"
    assert [(a.item_id, a.value) for a in checkin.answers] == [("mood", "9")]
    north = await _timeline(db)
    assert north is not None
    texts = [e.text for e in north.entries if isinstance(e, MessageEntry)]
    assert texts == ["I can't sleep"]


@contextmanager
def _counting(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def _add_history(db: Database, world: World, count: int, first_day: int) -> None:
    """`count` more answered daily check-ins, each with a case and a page."""
    patient, clinician_id = world.patient, world.high_case.resolved_by
    assert clinician_id is not None
    async with db.transaction() as session:
        checkins = [
            _checkin(
                patient,
                None,
                kind=CheckinKind.DAILY,
                day=day,
                due_at=ENDED - day * HOUR,
                sent_at=ENDED - day * HOUR,
                status=CheckinStatus.COMPLETED,
            )
            for day in range(first_day, first_day + count)
        ]
        session.add_all(checkins)
        await session.flush()
        cases = [
            _case(
                patient,
                checkin_id=c.id,
                level=Level.LOW,
                trigger=CaseTrigger.CHECKIN,
                reason="low",
                status=CaseStatus.RESOLVED,
                opened_at=c.due_at,
            )
            for c in checkins
        ]
        session.add_all(cases)
        session.add_all(
            _answer(patient, c, i, "no", c.due_at) for c in checkins for i in ("s1", "s6")
        )
        await session.flush()
        session.add_all(_page(c, clinician_id, 0, PageStatus.SENT, c.opened_at) for c in cases)


async def _queries_for_timeline(db: Database, checkins: int) -> int:
    async with db.transaction() as session:
        await session.connection()  # BEGIN outside the count
        with _counting(db) as statements:
            timeline = await patient_timeline(
                session, clinic_id="north", patient_ref="P-1", now=NOW
            )
    assert timeline is not None
    assert sum(isinstance(e, CheckinEntry) for e in timeline.entries) == checkins
    assert all(
        e.pages
        for e in timeline.entries
        if isinstance(e, CaseEntry) and e.trigger == CaseTrigger.CHECKIN
    )
    return len(statements)


async def test_the_query_count_does_not_grow_with_the_history(db: Database) -> None:
    world = await _world(db)
    await _add_history(db, world, 5, first_day=10)
    few = await _queries_for_timeline(db, 2 + 5)
    await _add_history(db, world, 45, first_day=20)
    many = await _queries_for_timeline(db, 2 + 50)
    assert few == many <= 9  # the clinicians' messages of the cases' threads; plan uses


async def test_pages_together_are_the_whole_timeline(db: Database) -> None:
    """A page is placed from narrow queries and only its records read: pages of any size,
    laid end to end, are exactly the whole timeline (same entries, same order, ties across
    kinds included: each added case opens at its check-in's instant), each numbered in it."""
    world = await _world(db)
    await _add_history(db, world, 12, first_day=10)
    async with db.transaction() as session:
        assert world.patient.id is not None and world.high_case.id is not None
        session.add(  # a clinician's message of a case's thread: placed as it was read
            CaseMessage(
                case_id=world.high_case.id,
                clinic_id="north",
                patient_id=world.patient.id,
                direction=MessageDirection.TO_PATIENT,
                text="Calling you now",
                status=MessageStatus.SENT,
                at=ENDED + 4 * HOUR + timedelta(minutes=20),
            )
        )
    whole = await _timeline(db)
    assert whole is not None and whole.total == len(whole.entries) == 7 + 2 * 12 + 1
    assert {e.kind for e in whole.entries} >= {"case_message", "case", "checkin", "message"}
    for size in (1, 4, 7, 100):
        shown: list[Any] = []
        for page in range(1, -(-whole.total // size) + 1):
            part = await _timeline(db, page=page, per_page=size)
            assert part is not None and (part.total, part.first) == (whole.total, len(shown))
            assert len(part.entries) == min(size, whole.total - len(shown))
            shown += part.entries
        assert shown == list(whole.entries), size
    past_the_end = await _timeline(db, page=99, per_page=4)
    assert past_the_end is not None and past_the_end.first == 0
    assert list(past_the_end.entries) == list(whole.entries[:4])
    recent_page = await _timeline(db, days=1, page=1, per_page=2)
    assert recent_page is not None and recent_page.total == 3
    assert [e.kind for e in recent_page.entries] == ["late_answer", "case"]


async def test_a_page_reads_its_own_records_only(db: Database) -> None:
    """A page costs a fixed number of queries, however long the history."""
    world = await _world(db)
    await _add_history(db, world, 5, first_day=10)

    async def page_queries() -> list[str]:
        async with db.transaction() as session:
            await session.connection()
            with _counting(db) as statements:
                found = await patient_timeline(
                    session, clinic_id="north", patient_ref="P-1", now=NOW, page=1, per_page=3
                )
        assert found is not None and len(found.entries) == 3
        return statements

    few = await page_queries()
    await _add_history(db, world, 45, first_day=20)
    assert len(await page_queries()) == len(few) <= 14


async def test_a_record_gone_between_placing_and_reading_is_left_out(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a purge or an erasure may commit between the page's two reads: what was
    placed but is gone is left out of the page, never an error page."""
    from bot.services.timeline import build

    await _world(db)
    placed = build.history_keys

    async def with_a_ghost(session: Any, **kw: Any) -> Any:
        keys = await placed(session, **kw)
        keys.checkins.append((999_999, NOW))  # the newest entry, deleted meanwhile
        return keys

    monkeypatch.setattr(build, "history_keys", with_a_ghost)
    page = await _timeline(db, page=1, per_page=3)
    assert page is not None and page.total == 8
    assert [e.kind for e in page.entries] == ["late_answer", "case"]
