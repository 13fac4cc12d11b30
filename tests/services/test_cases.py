"""Case rules the conversation relies on (`bot.services.cases`): a repage keeps the ladder's
progress, and a check-in's ending counts only what this check-in led to. Both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.domain.triage import Finding
from bot.services.case_facts import Ending, checkin_ending
from bot.services.cases import raise_case
from bot.services.patients import AlreadyStopped, opt_out
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import Case, Checkin, Clinician, OnCallShift, Page, Patient
from storage.states import (
    CaseStatus,
    CaseTrigger,
    CheckinKind,
    CheckinStatus,
    Level,
    PageStatus,
    PatientStatus,
    ShiftRole,
)
from tests.auxil.harness import north_clinic

NOW = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)
CLINIC = north_clinic()


async def _world(db: Database) -> tuple[Patient, Clinician]:
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
        ada = Clinician(
            clinic_id="north", name="Dr Ada", telegram_user_id=601, chat_id=601, created_at=NOW
        )
        session.add_all([patient, ada])
        await session.flush()
        assert ada.id is not None
        session.add(
            OnCallShift(
                clinic_id="north",
                clinician_id=ada.id,
                role=ShiftRole.PRIMARY,
                starts_at=NOW - timedelta(days=1),
                ends_at=NOW + timedelta(days=1),
                created_at=NOW,
            )
        )
    return patient, ada


async def _case(db: Database, patient: Patient, **fields: object) -> int:
    assert patient.id is not None
    async with db.transaction() as session:
        case = Case(
            clinic_id="north",
            patient_id=patient.id,
            level=Level.HIGH,
            trigger=CaseTrigger.CHECKIN,
            reason="[2026-06-03 14:00 UTC] C-SSRS item 4 = Yes",
            opened_at=NOW - timedelta(hours=1),
            ladder_started_at=NOW - timedelta(hours=1),
            **fields,
        )
        session.add(case)
        await session.flush()
        assert case.id is not None
        return case.id


async def _stop(db: Database, patient: Patient) -> tuple[Case, bool]:
    async with db.transaction() as session:
        raised = await raise_case(
            session,
            patient=patient,
            level=Level.LOW,
            findings=[Finding(Level.LOW, "patient stopped their check-ins (/stop)")],
            trigger=CaseTrigger.NON_RESPONSE,
            now=NOW,
            repage=True,
        )
    assert raised is not None
    return raised.case, raised.page_now


async def test_a_stop_repages_an_open_case_at_the_rung_it_has_reached(db: Database) -> None:
    patient, _ = await _world(db)
    await _case(db, patient, step=3, next_step_at=NOW + timedelta(minutes=4))
    case, page_now = await _stop(db, patient)
    assert page_now and case.status == CaseStatus.OPEN
    # `step` names the rung still to come (3: past the last); the rung that paged last (the
    # last, everyone) pages again now, not the next one and not rung 1.
    assert case.step == 2 and case.next_step_at == NOW
    assert case.ladder_started_at == NOW - timedelta(hours=1)
    assert case.trigger == CaseTrigger.CHECKIN and case.level == Level.HIGH
    assert case.reason.endswith("patient stopped their check-ins (/stop)")


async def test_a_stop_reopens_a_case_a_clinician_had_taken(db: Database) -> None:
    patient, ada = await _world(db)
    await _case(
        db,
        patient,
        status=CaseStatus.ACKNOWLEDGED,
        step=1,
        acknowledged_at=NOW,
        acknowledged_by=ada.id,
    )
    case, page_now = await _stop(db, patient)
    assert page_now and case.status == CaseStatus.OPEN and case.step == 0
    assert case.acknowledged_by is None and case.ladder_started_at == NOW


async def _checkin(db: Database, patient: Patient, level: Level) -> Checkin:
    assert patient.id is not None
    async with db.transaction() as session:
        checkin = Checkin(
            patient_id=patient.id,
            kind=CheckinKind.OFFSET,
            nominal_at=NOW,
            due_at=NOW,
            status=CheckinStatus.COMPLETED,
            risk_level=level,
            created_at=NOW,
        )
        session.add(checkin)
        await session.flush()
        return checkin


async def _page(db: Database, case_id: int, clinician: Clinician, at: datetime) -> None:
    assert clinician.id is not None
    async with db.transaction() as session:
        session.add(
            Page(
                case_id=case_id,
                clinician_id=clinician.id,
                step=0,
                status=PageStatus.SENT,
                sent_at=at,
            )
        )


async def _ending(db: Database, checkin: Checkin) -> Ending:
    async with db.transaction() as session:
        return await checkin_ending(session, checkin=checkin, clinic=CLINIC, now=NOW)


async def test_a_low_checkin_beside_an_old_paged_case_is_queued_not_paged(db: Database) -> None:
    patient, ada = await _world(db)
    case_id = await _case(db, patient, status=CaseStatus.ACKNOWLEDGED)
    await _page(db, case_id, ada, NOW - timedelta(minutes=59))
    assert await _ending(db, await _checkin(db, patient, Level.LOW)) is Ending.QUEUED
    assert await _ending(db, await _checkin(db, patient, Level.NONE)) is Ending.ROUTINE


async def test_only_pages_of_the_ladder_now_running_count(db: Database) -> None:
    patient, ada = await _world(db)
    started = NOW - timedelta(minutes=1)
    case_id = await _case(db, patient)
    async with db.transaction() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        case.ladder_started_at = started  # this check-in raised it a minute ago
    await _page(db, case_id, ada, started - timedelta(minutes=30))  # an earlier ladder's page
    checkin = await _checkin(db, patient, Level.HIGH)
    assert await _ending(db, checkin) is Ending.NOT_REACHED
    await _page(db, case_id, ada, started + timedelta(seconds=1))
    assert await _ending(db, checkin) is Ending.PAGED


async def test_a_second_stop_changes_nothing_and_pages_nobody(db: Database) -> None:
    patient, _ = await _world(db)
    async with db.transaction() as session:
        first = await opt_out(session, patient=patient, clinic=CLINIC, now=NOW)
    assert first is not None and first.page_now
    with pytest.raises(AlreadyStopped):
        async with db.transaction() as session:
            await opt_out(session, patient=patient, clinic=CLINIC, now=NOW + timedelta(seconds=1))
    async with db.transaction() as session:
        cases = (await session.scalars(select(Case))).all()
    assert len(cases) == 1 and cases[0].reason.count("patient stopped") == 1
