"""Helpers of the lock-order tests: a writer that holds the audit chain and then locks a row,
beside the writer under test (PostgreSQL's lock order: the chain before any row)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain.levels import Level
from bot.domain.triage import Finding
from bot.services.cases import RaisedCase, raise_case
from storage import audit
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import Clinician, Patient
from storage.states import CaseTrigger
from tests.auxil.outage import until_someone_waits

NOW = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)
CLINIC = ClinicConfig(id="north", name="North", timezone="UTC", contact_phone="555 0100")
Write = Callable[[AsyncSession], Awaitable[object]]


async def patient_and_clinician(db: Database) -> tuple[Patient, Clinician]:
    """The clinic "north" with an active patient P-1 and a clinician, Dr Lee."""
    async with db.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("north", "North", "UTC", "x")], now=NOW)
        patient = Patient(
            clinic_id="north", ref="P-1", timezone="UTC", status="active", created_at=NOW
        )
        lee = Clinician(
            clinic_id="north", name="Dr Lee", telegram_user_id=601, chat_id=601, created_at=NOW
        )
        session.add_all([patient, lee])
        await session.flush()
    return patient, lee


async def beside_a_chain_holder(db: Database, locks: Write, write: Write) -> None:
    """`write` starts while another writer holds the chain; that writer then runs `locks`
    (a row lock) and appends. With the chain taken first, each waits in turn; with a row
    touched before the chain, PostgreSQL reports a deadlock."""
    holding = asyncio.Event()

    async def holder() -> None:
        async with db.transaction() as session:
            await audit.hold_chain(session)
            holding.set()
            await until_someone_waits(db)  # the write waits for the chain now
            await locks(session)
            await audit.append(session, at=NOW, actor="patient:1", event="answer")

    async def writer() -> None:
        await holding.wait()
        async with db.transaction() as session:
            await write(session)

    await asyncio.wait_for(asyncio.gather(holder(), writer()), timeout=20)


async def raise_high(session: AsyncSession, patient: Patient) -> RaisedCase | None:
    """A high case raised for the patient (a row keyed to them, their clinic and the case)."""
    return await raise_case(
        session,
        patient=patient,
        level=Level.HIGH,
        findings=[Finding(Level.HIGH, "crisis words")],
        trigger=CaseTrigger.CHECKIN,
        now=NOW,
    )


async def count(db: Database, model: type) -> int | None:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(model))
