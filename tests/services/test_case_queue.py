"""The case queue's cards (bot.services.case_queue over storage.views.queue): every field as the
stored rows say it, read through the ORM here for comparison, in `queue_order`; only the
clinic's own cases; sealed words opened; four queries however many cases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.clinic_config import ClinicConfig
from bot.domain.levels import Level
from bot.services.case_queue import CaseCard, case_card, open_case_cards, queue_order
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import Answer, Case, Checkin, Clinician, Infusion, Outreach, Page, Patient
from storage.states import (
    Actor,
    CaseStatus,
    CaseTrigger,
    CheckinKind,
    CheckinStatus,
    OutreachMethod,
    OutreachOutcome,
    PageStatus,
)
from storage.views.queue import CaseRow

NOW = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)
CLINICS = {
    c: ClinicConfig(id=c, name=c.title(), timezone="UTC", contact_phone="555 0100")
    for c in ("north", "south")
}
LEVELS = (Level.HIGH, Level.MODERATE, Level.LOW)


async def _world(db: Database, cases: int) -> None:
    """`cases` cases of north (open, acknowledged and resolved, with and without a check-in,
    pages, outreach and the patient's words) and one open case of south."""
    async with db.transaction() as session:
        await sync_clinics(
            session,
            clinics=[ClinicRow(c, c.title(), "UTC", "x") for c in CLINICS],
            now=NOW,
        )
        ada, grace = (
            Clinician(
                clinic_id="north",
                name=name,
                telegram_user_id=600 + k,
                chat_id=600 + k,
                created_at=NOW,
            )
            for k, name in enumerate(("Dr Ada", "Dr Grace"))
        )
        session.add_all([ada, grace])
        await session.flush()
        for n in range(cases):
            await _case(session, n, "north", (ada, grace))
        await _case(session, 0, "south", (ada, grace))


async def _case(session: AsyncSession, n: int, clinic: str, people: tuple[Clinician, ...]) -> None:
    opened = NOW - timedelta(hours=n % 4, minutes=n)
    patient = Patient(
        clinic_id=clinic,
        ref=f"{clinic[0].upper()}-{n}",
        timezone="UTC",
        baseline_mood=None if n % 3 else 6,
        status="active",
        created_at=NOW - timedelta(days=30),
        phone="+49 30 1234567",  # sealed: not what a card reads
    )
    session.add(patient)
    await session.flush()
    assert patient.id is not None
    checkin_id = None
    if n % 4:
        infusion = None
        if n % 4 != 3:
            infusion = Infusion(
                patient_id=patient.id,
                ended_at=NOW - timedelta(days=2),
                protocol="ketamine",
                recorded_at=NOW,
                recorded_by=Actor("cli"),
            )
            session.add(infusion)
            await session.flush()
        checkin = Checkin(
            patient_id=patient.id,
            infusion_id=infusion.id if infusion else None,
            kind=CheckinKind.DAILY,
            day=1,
            nominal_at=opened,
            due_at=opened - timedelta(minutes=5),
            status=CheckinStatus.COMPLETED,
            sent_at=opened - timedelta(minutes=4),
            risk_level=Level.HIGH,
            created_at=opened,
        )
        session.add(checkin)
        await session.flush()
        checkin_id = checkin.id
        said = [("mood", "2"), ("s1", "yes"), ("note", f"words {n}"), ("s2", "no")]
        session.add_all(
            Answer(
                patient_id=patient.id,
                checkin_id=checkin.id,
                item_id=item,
                value=value,
                instrument_id="aftercare-checkin",
                instrument_version="1",
                answered_at=opened - timedelta(minutes=3, seconds=k * 7 % 4),  # not as added
            )
            for k, (item, value) in enumerate(said)
        )
    status = (CaseStatus.OPEN, CaseStatus.ACKNOWLEDGED, CaseStatus.RESOLVED)[n % 3]
    ada, grace = people
    case = Case(
        clinic_id=clinic,
        patient_id=patient.id,
        checkin_id=checkin_id,
        level=LEVELS[n % 3 - 1],
        trigger=CaseTrigger.CHECKIN if checkin_id else CaseTrigger.MESSAGE,
        reason=f"[2026-06-03 14:{n % 60:02d} UTC] C-SSRS item 4 = Yes",
        quote=None if checkin_id else "I can't go on",
        status=status,
        opened_at=opened,
        ladder_started_at=opened + timedelta(minutes=n % 2),
        step=n % 3,
        next_step_at=opened + timedelta(minutes=30) if status == CaseStatus.OPEN else None,
        acknowledged_at=opened + timedelta(minutes=4) if status != CaseStatus.OPEN else None,
        acknowledged_by=(ada.id if n % 2 else None) if status != CaseStatus.OPEN else None,
        resolved_at=opened + timedelta(hours=1) if status == CaseStatus.RESOLVED else None,
        resolved_by=grace.id if status == CaseStatus.RESOLVED else None,
        resolution_note="Called; plan reviewed." if status == CaseStatus.RESOLVED else None,
        outreach_due_at=NOW - timedelta(minutes=1) if n % 5 == 1 else NOW + timedelta(hours=1),
        lease_owner="me",
        lease_until=NOW,
    )
    session.add(case)
    await session.flush()
    assert case.id is not None
    for step in range(n % 3):
        session.add(
            Page(
                case_id=case.id,
                clinician_id=(ada, grace)[step % 2].id or 0,
                step=step,
                status=PageStatus.FAILED if (n + step) % 4 == 0 else PageStatus.SENT,
                error="Forbidden" if (n + step) % 4 == 0 else None,
                sent_at=opened + timedelta(minutes=step),
            )
        )
    for k in range(n % 3 if n % 5 != 1 else 0):
        session.add(
            Outreach(
                case_id=case.id,
                clinic_id=clinic,
                patient_id=patient.id,
                clinician_id=None if k else grace.id,
                method=OutreachMethod.PHONE,
                outcome=OutreachOutcome.REACHED if k else OutreachOutcome.NO_ANSWER,
                at=opened + timedelta(minutes=10 - k),
                recorded_at=opened + timedelta(minutes=11),
                note=f"note {n}/{k}" if k else None,
            )
        )


async def _as_stored(session: AsyncSession, card: CaseCard) -> None:
    """The card says what its stored rows say, read through the ORM."""
    case = await session.get(Case, card.case.id)
    assert case is not None and case.clinic_id == "north"
    assert card.case == CaseRow(*(getattr(case, f) for f in CaseRow._fields))
    patient = await session.get(Patient, case.patient_id)
    assert patient is not None
    assert (card.patient.id, card.patient.ref, card.patient.baseline_mood) == (
        patient.id,
        patient.ref,
        patient.baseline_mood,
    )
    names = {c.id: c.name for c in (await session.scalars(select(Clinician))).all()}
    assert card.acknowledged_by == (names[case.acknowledged_by] if case.acknowledged_by else None)
    assert card.resolved_by == (names[case.resolved_by] if case.resolved_by else None)
    if case.checkin_id is None:
        assert card.facts is None
    else:
        checkin = await session.get(Checkin, case.checkin_id)
        assert checkin is not None and card.facts is not None
        facts = card.facts
        assert (facts.checkin.id, facts.checkin.kind, facts.checkin.due_at) == (
            checkin.id,
            checkin.kind,
            checkin.due_at,
        )
        infusion = await session.get(Infusion, checkin.infusion_id) if checkin.infusion_id else None
        assert (facts.infusion.ended_at if facts.infusion else None) == (
            infusion.ended_at if infusion else None
        )
        answers: dict[str, str] = {}
        for answer in await session.scalars(
            select(Answer)
            .where(col(Answer.checkin_id) == checkin.id)
            .order_by(col(Answer.answered_at), col(Answer.id))
        ):
            answers[answer.item_id] = answer.value
        assert list(facts.answers.items()) == list(answers.items())
        assert facts.answers["s1"] == "yes" and "words" in facts.answers["note"]  # opened
    pages = (
        await session.scalars(
            select(Page).where(col(Page.case_id) == case.id).order_by(col(Page.id))
        )
    ).all()
    assert [(p.clinician, p.sent_at, p.step, p.delivered, p.error) for p in card.pages] == [
        (names[p.clinician_id], p.sent_at, p.step, p.status == PageStatus.SENT, p.error)
        for p in pages
    ]
    tried = (
        await session.scalars(
            select(Outreach)
            .where(col(Outreach.case_id) == case.id)
            .order_by(col(Outreach.at), col(Outreach.id))
        )
    ).all()
    assert [(o.at, o.recorded_at, o.clinician, o.note, o.reached) for o in card.outreach] == [
        (
            a.at,
            a.recorded_at,
            names[a.clinician_id] if a.clinician_id else "—",
            a.note,
            a.outcome == OutreachOutcome.REACHED,
        )
        for a in tried
    ]
    due = case.outreach_due_at
    overdue = due is not None and due <= NOW and case.status != CaseStatus.RESOLVED
    assert (card.outreach_overdue is not None) == overdue


async def test_the_cards_say_what_is_stored_in_queue_order(db: Database) -> None:
    await _world(db, 12)
    async with db.read() as session:
        cards = await open_case_cards(session, clinic=CLINICS["north"], now=NOW)
        unresolved = (
            await session.scalars(
                select(col(Case.id)).where(
                    col(Case.clinic_id) == "north",
                    col(Case.status).in_((CaseStatus.OPEN, CaseStatus.ACKNOWLEDGED)),
                )
            )
        ).all()
        assert sorted(c.case.id for c in cards) == sorted(unresolved) and len(cards) == 8
        assert cards == sorted(cards, key=queue_order)
        assert cards[0].outreach_overdue is not None  # overdue first, whatever its level
        for card in cards:
            await _as_stored(session, card)
        resolved = (
            await session.scalars(
                select(col(Case.id)).where(
                    col(Case.clinic_id) == "north", col(Case.status) == CaseStatus.RESOLVED
                )
            )
        ).all()
        for case_id in [*resolved, cards[0].case.id]:
            one = await case_card(session, clinic=CLINICS["north"], case_id=case_id, now=NOW)
            assert one is not None and one.case.id == case_id
            await _as_stored(session, one)
            assert one.resolved_by == ("Dr Grace" if case_id in resolved else None)
        assert one == cards[0] and hash(one) == hash(cards[0])


async def test_another_clinics_cases_never_show(db: Database) -> None:
    await _world(db, 3)
    async with db.read() as session:
        south = (
            await session.scalars(select(col(Case.id)).where(col(Case.clinic_id) == "south"))
        ).one()
        north = await open_case_cards(session, clinic=CLINICS["north"], now=NOW)
        assert south not in [c.case.id for c in north]
        assert all(c.patient.ref.startswith("N-") for c in north)
        assert await case_card(session, clinic=CLINICS["north"], case_id=south, now=NOW) is None
        theirs = await open_case_cards(session, clinic=CLINICS["south"], now=NOW)
        assert [c.case.id for c in theirs] == [south]
        assert [c.patient.ref for c in theirs] == ["S-0"]


@contextmanager
def _counting(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engines = {e.sync_engine for e in db.engines}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)


async def _queries(db: Database, expected: int) -> int:
    async with db.read() as session:
        await session.connection()  # BEGIN outside the count
        with _counting(db) as statements:
            cards = await open_case_cards(session, clinic=CLINICS["north"], now=NOW)
    assert len(cards) == expected
    return len(statements)


async def test_the_query_count_does_not_grow_with_cases(db: Database) -> None:
    await _world(db, 4)
    few = await _queries(db, 3)
    async with db.transaction() as session:
        people = tuple((await session.scalars(select(Clinician))).all())
        for n in range(4, 40):
            await _case(session, n, "north", people)
    many = await _queries(db, 27)
    assert few == many == 4  # cases with their rows, answers, pages, outreach
