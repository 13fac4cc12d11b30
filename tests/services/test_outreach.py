"""The outreach log, its clock and the resolve rule (CLINICAL.md §10), over both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.clinic_config import ClinicConfig
from bot.domain.channels import ChannelKind
from bot.domain.levels import Level
from bot.domain.triage import Finding
from bot.services.case_queue import open_case_cards
from bot.services.case_taking import NO_OUTREACH_MARK, CaseAction, TakeOutcome, Taker, take
from bot.services.cases import LadderPosition, raise_case
from bot.services.paging.rungs import PageResult, record_rung
from bot.services.reaching.outreach import log_outreach, reescalate_overdue
from storage import audit
from storage.cases import get_case
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import AuditEvent, Case, Clinician, Patient
from storage.states import CaseStatus, CaseTrigger
from tests.auxil.outage import until_someone_waits

NOW = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)
CLINICS = {
    c: ClinicConfig(id=c, name=c.title(), timezone="UTC", contact_phone="555 0100")
    for c in ("north", "south")
}


def clinic_of(clinic_id: str) -> ClinicConfig:
    return CLINICS[clinic_id]


async def _setup(db: Database) -> tuple[Patient, Clinician, Clinician]:
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
            timezone="UTC",
            status="active",
            chat_id=501,
            telegram_user_id=501,
            created_at=NOW,
        )
        lee = Clinician(
            clinic_id="north", name="Dr Lee", telegram_user_id=601, chat_id=601, created_at=NOW
        )
        sam = Clinician(
            clinic_id="south", name="Dr Sam", telegram_user_id=602, chat_id=602, created_at=NOW
        )
        session.add_all([patient, lee, sam])
        await session.flush()
    return patient, lee, sam


async def _paged_case(db: Database, patient: Patient, lee: Clinician, level: Level) -> int:
    """A case raised and its first rung delivered to Dr Lee at NOW."""
    async with db.transaction() as session:
        raised = await raise_case(
            session,
            patient=patient,
            level=level,
            findings=[Finding(level, "C-SSRS item 4 = Yes")],
            trigger=CaseTrigger.CHECKIN,
            now=NOW,
        )
        assert raised is not None and raised.case.id is not None
        case = raised.case
        case.lease_owner = "me"
        assert lee.id is not None
        await record_rung(
            session,
            case=case,
            planned=LadderPosition.of(case),
            owner="me",
            clinic=CLINICS["north"],
            results=[PageResult(lee.id, ChannelKind.TELEGRAM, True, 1)],
            queue_only=False,
            delivered=True,
            reached_nobody=False,
            recipients=1,
            now=NOW,
        )
        return case.id


async def _take(db: Database, case_id: int, by: Taker, action: CaseAction, at: datetime, **kw: str):  # type: ignore[no-untyped-def]
    async with db.transaction() as session:
        return await take(
            session,
            case_id=case_id,
            by=by,
            action=action,
            now=at,
            clinic_of=clinic_of,
            note=kw.get("note", ""),
            not_reached=kw.get("not_reached", ""),
        )


async def _log(db: Database, case_id: int, by: Clinician, outcome: str, at: datetime):  # type: ignore[no-untyped-def]
    async with db.transaction() as session:
        return await log_outreach(
            session,
            case_id=case_id,
            by=[by],
            method="phone",
            outcome=outcome,
            at=None,
            note="left a message",
            clinic_of=clinic_of,
            now=at,
        )


async def _overdue(db: Database, at: datetime) -> list[int]:
    async with db.transaction() as session:
        cases = await reescalate_overdue(
            session,
            clinic_of=clinic_of,
            owner="me",
            lease_until=at + timedelta(minutes=1),
            limit=10,
            now=at,
        )
        return [c.id for c in cases if c.id is not None]


async def _case(db: Database, case_id: int) -> Case:
    async with db.transaction() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        return case


async def test_the_first_delivered_page_starts_the_clock(db: Database) -> None:
    patient, lee, _ = await _setup(db)
    case_id = await _paged_case(db, patient, lee, Level.HIGH)
    case = await _case(db, case_id)
    assert case.first_paged_at == NOW
    assert case.outreach_due_at == NOW + timedelta(minutes=30)


async def test_acknowledged_with_no_attempt_goes_back_up_the_ladder(db: Database) -> None:
    patient, lee, _ = await _setup(db)
    case_id = await _paged_case(db, patient, lee, Level.HIGH)
    taken = await _take(db, case_id, Taker.clinician(lee), CaseAction.ACKNOWLEDGE, NOW)
    assert taken.outcome is TakeOutcome.DONE
    assert await _overdue(db, NOW + timedelta(minutes=29)) == []
    assert await _overdue(db, NOW + timedelta(minutes=30)) == [case_id]
    case = await _case(db, case_id)
    assert case.status == CaseStatus.OPEN and case.step == 0
    assert case.next_step_at == NOW + timedelta(minutes=30) and case.lease_owner is None
    assert (
        "Outreach overdue: acknowledged by Dr Lee 30 min ago, no contact attempt recorded — "
        "the first attempt was due 30 min after the first page." in case.reason
    )
    assert await _overdue(db, NOW + timedelta(minutes=31)) == []  # open: its ladder pages it
    async with db.transaction() as session:
        events = (await session.scalars(select(AuditEvent.event))).all()
    assert "outreach.overdue" in events
    # acknowledged again after the target: the clinician gets again_after, then it goes up again
    later = NOW + timedelta(minutes=45)
    await _take(db, case_id, Taker.clinician(lee), CaseAction.ACKNOWLEDGE, later)
    assert (await _case(db, case_id)).outreach_due_at == later + timedelta(minutes=30)
    assert await _overdue(db, later + timedelta(minutes=29)) == []
    assert await _overdue(db, later + timedelta(minutes=30)) == [case_id]


async def test_an_attempt_moves_the_clock_and_reached_ends_it(db: Database) -> None:
    patient, lee, _ = await _setup(db)
    case_id = await _paged_case(db, patient, lee, Level.HIGH)
    await _take(db, case_id, Taker.clinician(lee), CaseAction.ACKNOWLEDGE, NOW)
    logged = await _log(db, case_id, lee, "no_answer", NOW + timedelta(minutes=10))
    assert logged.attempt is not None and not logged.problems
    assert (await _case(db, case_id)).outreach_due_at == NOW + timedelta(hours=12)
    assert await _overdue(db, NOW + timedelta(hours=1)) == []
    await _log(db, case_id, lee, "reached", NOW + timedelta(hours=2))
    case = await _case(db, case_id)
    assert case.outreach_due_at is None and case.reached_at == NOW + timedelta(hours=2)
    assert await _overdue(db, NOW + timedelta(hours=13)) == []
    async with db.transaction() as session:
        rows = (
            await session.scalars(select(AuditEvent).where(AuditEvent.event == "outreach.logged"))
        ).all()
    assert len(rows) == 2 and all("left a message" not in str(r.detail) for r in rows)


async def test_resolving_a_high_case_needs_reached_or_a_reason(db: Database) -> None:
    patient, lee, _ = await _setup(db)
    case_id = await _paged_case(db, patient, lee, Level.HIGH)
    refused = await _take(db, case_id, Taker.clinician(lee), CaseAction.RESOLVE, NOW, note="ok")
    assert refused.outcome is TakeOutcome.UNREACHED
    assert refused.message == (
        "Record that the patient was reached, or give the reason, before resolving "
        f"case #{case_id}."
    )
    assert (await _case(db, case_id)).status == CaseStatus.OPEN
    done = await _take(
        db,
        case_id,
        Taker.clinician(lee),
        CaseAction.RESOLVE,
        NOW,
        note="ok",
        not_reached="emergency services dispatched",
    )
    assert done.outcome is TakeOutcome.DONE
    case = await _case(db, case_id)
    assert case.status == CaseStatus.RESOLVED and case.outreach_due_at is None
    assert "emergency services dispatched" in (case.resolution_note or "")


async def test_a_reached_outcome_lets_it_resolve(db: Database) -> None:
    patient, lee, _ = await _setup(db)
    case_id = await _paged_case(db, patient, lee, Level.MODERATE)
    await _log(db, case_id, lee, "reached", NOW + timedelta(minutes=5))
    done = await _take(db, case_id, Taker.clinician(lee), CaseAction.RESOLVE, NOW, note="talked")
    assert done.outcome is TakeOutcome.DONE


async def test_a_new_concern_after_the_patient_was_reached_needs_them_reached_again(
    db: Database,
) -> None:
    patient, lee, _ = await _setup(db)
    case_id = await _paged_case(db, patient, lee, Level.MODERATE)
    await _log(db, case_id, lee, "reached", NOW + timedelta(minutes=5))
    taken = await _take(db, case_id, Taker.clinician(lee), CaseAction.ACKNOWLEDGE, NOW)
    assert taken.outcome is TakeOutcome.DONE
    later = NOW + timedelta(hours=2)
    async with db.transaction() as session:  # crisis words after the call: the case re-opens
        raised = await raise_case(
            session,
            patient=patient,
            level=Level.HIGH,
            findings=[Finding(Level.HIGH, "crisis words in free text")],
            trigger=CaseTrigger.MESSAGE,
            now=later,
        )
    assert raised is not None and raised.case.status == CaseStatus.OPEN
    refused = await _take(db, case_id, Taker.clinician(lee), CaseAction.RESOLVE, later, note="x")
    assert refused.outcome is TakeOutcome.UNREACHED, "the old call covered the new concern"
    await _log(db, case_id, lee, "reached", later + timedelta(minutes=10))
    at = later + timedelta(minutes=11)
    done = await _take(db, case_id, Taker.clinician(lee), CaseAction.RESOLVE, at, note="ok")
    assert done.outcome is TakeOutcome.DONE


async def test_a_paging_service_resolve_is_marked_without_outreach(db: Database) -> None:
    patient, lee, _ = await _setup(db)
    case_id = await _paged_case(db, patient, lee, Level.HIGH)
    by = Taker.service("pagerduty", clinician=None, name="someone")
    done = await _take(db, case_id, by, CaseAction.RESOLVE, NOW, note="Resolved in PagerDuty")
    assert done.outcome is TakeOutcome.DONE
    assert NO_OUTREACH_MARK in ((await _case(db, case_id)).resolution_note or "")


async def test_another_clinic_cannot_log_outreach(db: Database) -> None:
    patient, lee, sam = await _setup(db)
    case_id = await _paged_case(db, patient, lee, Level.HIGH)
    logged = await _log(db, case_id, sam, "reached", NOW)
    assert logged.not_found and logged.attempt is None
    assert (await _case(db, case_id)).reached_at is None


async def test_a_bad_time_is_refused_beside_its_field(db: Database) -> None:
    patient, lee, _ = await _setup(db)
    case_id = await _paged_case(db, patient, lee, Level.HIGH)
    async with db.transaction() as session:
        logged = await log_outreach(
            session,
            case_id=case_id,
            by=[lee],
            method="carrier pigeon",
            outcome="reached",
            at=NOW + timedelta(hours=1),
            note="",
            clinic_of=clinic_of,
            now=NOW,
        )
    assert set(logged.problems) == {"method", "at"}


async def test_the_queue_orders_overdue_first(db: Database) -> None:
    patient, lee, _ = await _setup(db)
    async with db.transaction() as session:
        other = Patient(
            clinic_id="north",
            ref="P-2",
            timezone="UTC",
            status="active",
            chat_id=502,
            telegram_user_id=502,
            created_at=NOW,
        )
        session.add(other)
        await session.flush()
    low = await _paged_case(db, other, lee, Level.LOW)
    high = await _paged_case(db, patient, lee, Level.HIGH)
    async with db.transaction() as session:
        row = await session.get(Case, low)
        assert row is not None
        row.outreach_due_at = NOW + timedelta(minutes=1)  # the low case's target passes first
    async with db.transaction() as session:
        cards = await open_case_cards(
            session, clinic=CLINICS["north"], now=NOW + timedelta(minutes=5)
        )
    assert [c.case.id for c in cards] == [low, high]
    assert cards[0].outreach_overdue == "the patient reached" and cards[1].outreach_overdue is None


async def test_an_overdue_case_is_claimed_after_the_chain(db: Database) -> None:
    """A clinician acting on a case holds the audit chain, then locks the case row; sending an
    overdue case back up its ladder claims case rows and then audits. It takes the chain
    before the claim, so the two wait in turn instead of deadlocking on PostgreSQL."""
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL only (SQLite serialises writers)")
    patient, lee, _ = await _setup(db)
    case_id = await _paged_case(db, patient, lee, Level.HIGH)
    await _take(db, case_id, Taker.clinician(lee), CaseAction.ACKNOWLEDGE, NOW)
    holding = asyncio.Event()

    async def clinician() -> None:
        async with db.transaction() as session:
            await audit.hold_chain(session)
            holding.set()
            await until_someone_waits(db)  # the overdue round is blocked now
            assert await get_case(session, case_id=case_id, lock=True) is not None
            await audit.append(session, at=NOW, actor="clinician:1", event="case.viewed")

    async def overdue() -> list[int]:
        await holding.wait()
        return await _overdue(db, NOW + timedelta(minutes=30))

    _, sent_back = await asyncio.wait_for(asyncio.gather(clinician(), overdue()), timeout=20)
    assert sent_back == [case_id]
