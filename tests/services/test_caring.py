"""Caring contacts' lifecycle (CLINICAL.md §12) over both backends: started on the resolve of a
moderate or high case (not low), one track per patient, paused while a case is open and after
/stop, future messages only after /resume, dropped when unreachable, stopped by the clinic."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.clinic_config import ClinicConfig
from bot.domain.delivery import Delivery, Outcome
from bot.domain.levels import Level
from bot.domain.triage import Finding
from bot.services.case_taking import CaseAction, TakeOutcome, Taker, take
from bot.services.cases import raise_case
from bot.services.patients import mark_unreachable, opt_out, resume
from bot.services.reaching import caring, caring_sends
from bot.services.reaching.caring_sends import CaringSend
from storage import audit
from storage.caring.queries import claim_due
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import AuditEvent, Case, Clinician, Patient
from storage.models.care import CaringMessage, CaringTrack
from storage.patients import lock_patient
from storage.states import (
    CaringStatus,
    CaseStatus,
    CaseTrigger,
    PatientStatus,
    clinician_actor,
)
from tests.auxil.outage import until_someone_waits

NOW = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)
CLINIC = ClinicConfig(id="north", name="North", timezone="UTC", contact_phone="555 0100")


def clinic_of(clinic_id: str) -> ClinicConfig:
    return CLINIC


async def _setup(db: Database) -> tuple[Patient, Clinician]:
    async with db.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("north", "North", "UTC", "x")], now=NOW)
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
        session.add_all([patient, lee])
        await session.flush()
    return patient, lee


async def _raise(db: Database, patient: Patient, level: Level, at: datetime) -> int:
    async with db.transaction() as session:
        raised = await raise_case(
            session,
            patient=patient,
            level=level,
            findings=[Finding(level, "crisis words")],
            trigger=CaseTrigger.CHECKIN,
            now=at,
        )
        assert raised is not None and raised.case.id is not None
        return raised.case.id


async def _resolve(db: Database, case_id: int, lee: Clinician, at: datetime) -> None:
    async with db.transaction() as session:
        taken = await take(
            session,
            case_id=case_id,
            by=Taker.clinician(lee),
            action=CaseAction.RESOLVE,
            now=at,
            clinic_of=clinic_of,
            note="spoke with the patient",
            not_reached="seen in clinic",
        )
        assert taken.outcome is TakeOutcome.DONE


async def _tracks(db: Database) -> list[CaringTrack]:
    async with db.transaction() as session:
        return list((await session.scalars(select(CaringTrack).order_by(CaringTrack.id))).all())


async def _messages(db: Database, track_id: int) -> list[CaringMessage]:
    async with db.transaction() as session:
        rows = await session.scalars(
            select(CaringMessage)
            .where(CaringMessage.track_id == track_id)
            .order_by(CaringMessage.number)
        )
        return list(rows.all())


async def _claim(db: Database, at: datetime) -> list[CaringMessage]:
    async with db.transaction() as session:
        return await claim_due(
            session, now=at, owner="me", lease_until=at + timedelta(minutes=1), limit=50
        )


async def test_resolving_a_high_case_starts_the_default_track(db: Database) -> None:
    patient, lee = await _setup(db)
    await _resolve(db, await _raise(db, patient, Level.HIGH, NOW), lee, NOW)
    (track,) = await _tracks(db)
    assert (track.status, track.reason, track.schedule) == ("active", "case_resolved", "comtois11")
    messages = await _messages(db, track.id or 0)
    assert len(messages) == len(CLINIC.caring.offsets())
    assert all(m.status == CaringStatus.PENDING for m in messages)
    assert messages[0].due_at.date() == (NOW + timedelta(days=1)).date()
    async with db.transaction() as session:
        events = (await session.scalars(select(AuditEvent.event))).all()
    assert "caring.started" in events


async def test_a_low_case_starts_nothing(db: Database) -> None:
    patient, lee = await _setup(db)
    await _resolve(db, await _raise(db, patient, Level.LOW, NOW), lee, NOW)
    assert await _tracks(db) == []


async def test_a_newer_start_replaces_the_older(db: Database) -> None:
    patient, lee = await _setup(db)
    await _resolve(db, await _raise(db, patient, Level.MODERATE, NOW), lee, NOW)
    later = NOW + timedelta(days=3)
    await _resolve(db, await _raise(db, patient, Level.HIGH, later), lee, later)
    old, new = await _tracks(db)
    assert (old.status, new.status) == (CaringStatus.REPLACED, CaringStatus.ACTIVE)
    old_messages = await _messages(db, old.id or 0)
    assert all(m.status == CaringStatus.DROPPED for m in old_messages if m.sent_at is None)


async def test_paused_while_a_case_is_open(db: Database) -> None:
    patient, lee = await _setup(db)
    await _resolve(db, await _raise(db, patient, Level.HIGH, NOW), lee, NOW)
    (track,) = await _tracks(db)
    first = (await _messages(db, track.id or 0))[0]
    await _raise(db, patient, Level.LOW, NOW + timedelta(hours=1))  # a new case, open
    assert await _claim(db, first.due_at + timedelta(minutes=1)) == []


async def test_stop_pauses_and_resume_keeps_future_messages_only(db: Database) -> None:
    patient, lee = await _setup(db)
    await _resolve(db, await _raise(db, patient, Level.HIGH, NOW), lee, NOW)
    (track,) = await _tracks(db)
    first, second = (await _messages(db, track.id or 0))[:2]
    stop_at = NOW + timedelta(hours=2)
    async with db.transaction() as session:
        row = await session.get(Patient, patient.id)
        assert row is not None
        case = await opt_out(session, patient=row, clinic=CLINIC, now=stop_at)
    if case is not None:  # /stop tells the care team; resolved, it would start a new track
        async with db.transaction() as session:
            stored = await session.get(Case, case.case.id)
            assert stored is not None
            stored.status = CaseStatus.RESOLVED
    assert await _claim(db, first.due_at + timedelta(minutes=1)) == []
    resume_at = first.due_at + timedelta(hours=1)
    async with db.transaction() as session:
        row = await session.get(Patient, patient.id)
        assert row is not None
        await resume(
            session, patient=row, clinic=CLINIC, now=resume_at, actor=clinician_actor(lee.id)
        )
    first_after, second_after = (await _messages(db, track.id or 0))[:2]
    assert first_after.status == CaringStatus.DROPPED
    assert second_after.status == CaringStatus.PENDING
    claimed = await _claim(db, second.due_at + timedelta(minutes=1))
    assert [m.number for m in claimed] == [2]


async def test_unreachable_drops_every_pending_message(db: Database) -> None:
    patient, lee = await _setup(db)
    await _resolve(db, await _raise(db, patient, Level.HIGH, NOW), lee, NOW)
    async with db.transaction() as session:
        await mark_unreachable(
            session, patient_id=patient.id or 0, clinic=CLINIC, now=NOW, error="Forbidden"
        )
    (track,) = await _tracks(db)
    assert track.status == CaringStatus.STOPPED
    assert {m.status for m in await _messages(db, track.id or 0)} == {CaringStatus.DROPPED}


async def test_the_clinic_stops_a_track(db: Database) -> None:
    patient, lee = await _setup(db)
    await _resolve(db, await _raise(db, patient, Level.HIGH, NOW), lee, NOW)
    async with db.transaction() as session:
        row = await session.get(Patient, patient.id)
        assert row is not None
        dropped = await caring.stop_track(
            session, patient=row, now=NOW, actor=clinician_actor(lee.id)
        )
    assert dropped == len(CLINIC.caring.offsets())
    (track,) = await _tracks(db)
    assert track.status == CaringStatus.STOPPED
    async with db.transaction() as session:
        events = (await session.scalars(select(AuditEvent.event))).all()
    assert "caring.stopped" in events


async def test_settings_with_no_time_to_send_never_fail_a_resolve(db: Database) -> None:
    """Quiet hours covering the whole send window: the case resolves, no track starts."""
    silent = ClinicConfig.model_validate(
        {
            **CLINIC.model_dump(),
            "quiet_hours": {"start": "08:00", "end": "20:00"},
            "caring": {
                **CLINIC.caring.model_dump(),
                "window_start": "10:00",
                "window_end": "18:00",
            },
        }
    )
    patient, lee = await _setup(db)
    case_id = await _raise(db, patient, Level.HIGH, NOW)
    async with db.transaction() as session:
        taken = await take(
            session,
            case_id=case_id,
            by=Taker.clinician(lee),
            action=CaseAction.RESOLVE,
            now=NOW + timedelta(hours=1),
            clinic_of=lambda _: silent,
            note="spoke with the patient",
            not_reached="seen in clinic",
        )
    assert taken.outcome is TakeOutcome.DONE
    assert await _tracks(db) == []


async def test_recording_an_unreachable_send_takes_the_chain_before_the_patient(
    db: Database,
) -> None:
    """A caring message's send finds the patient unreachable; recording it marks the patient
    (an UPDATE of their row) and audits. A /stop at that moment holds the audit chain, then
    locks the patient's row. The record takes the chain first, so the two wait for each other
    in turn instead of deadlocking on PostgreSQL."""
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL only (SQLite serialises writers)")
    patient, lee = await _setup(db)
    await _resolve(db, await _raise(db, patient, Level.HIGH, NOW), lee, NOW)
    (track,) = await _tracks(db)
    first = (await _messages(db, track.id or 0))[0]
    (claimed,) = [m for m in await _claim(db, first.due_at) if m.number == first.number]
    sent = [(CaringSend(claimed, patient, "thinking of you"), Delivery(Outcome.UNREACHABLE))]
    holding = asyncio.Event()

    async def stop() -> None:
        async with db.transaction() as session:
            await audit.hold_chain(session)
            holding.set()
            await until_someone_waits(db)  # the record waits for the chain now
            await lock_patient(session, patient_id=patient.id or 0)
            await audit.append(session, at=NOW, actor="patient:1", event="stop")

    async def record() -> None:
        await holding.wait()
        async with db.transaction() as session:
            await caring_sends.record(session, sent=sent, clinic_of=clinic_of, now=first.due_at)

    await asyncio.wait_for(asyncio.gather(stop(), record()), timeout=20)
    async with db.transaction() as session:
        row = await session.get(Patient, patient.id)
        assert row is not None and row.status == PatientStatus.UNREACHABLE
    assert {m.status for m in await _messages(db, track.id or 0)} == {CaringStatus.DROPPED}
