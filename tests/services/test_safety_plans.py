"""Saving a safety plan beside the patient's other writers (PostgreSQL's lock order)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.domain.safety_plan import read_plan
from bot.services.safety.plans import save_plan
from storage import audit
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import Patient, SafetyPlan
from storage.patients import lock_patient
from tests.auxil.outage import until_someone_waits

NOW = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)


async def test_saving_a_plan_takes_the_chain_before_the_patients_row(db: Database) -> None:
    """A plan saved from the console adds a row keyed to the patient (a key share on their
    row) and audits. A patient's writer holds the audit chain, then locks the patient's row.
    The save takes the chain first, so the two wait for each other in turn instead of
    deadlocking on PostgreSQL."""
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL only (SQLite serialises writers)")
    async with db.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("north", "North", "UTC", "x")], now=NOW)
        patient = Patient(
            clinic_id="north", ref="P-1", timezone="UTC", status="active", created_at=NOW
        )
        session.add(patient)
        await session.flush()
    assert patient.id is not None
    steps, errors = read_plan({"step1": "Not sleeping", "step5": "988"}, country_code="1")
    assert steps is not None, errors
    holding = asyncio.Event()

    async def writer() -> None:
        async with db.transaction() as session:
            await audit.hold_chain(session)
            holding.set()
            await until_someone_waits(db)  # the save waits for the chain now
            await lock_patient(session, patient_id=patient.id or 0)
            await audit.append(session, at=NOW, actor="patient:1", event="answer")

    async def save() -> None:
        await holding.wait()
        async with db.transaction() as session:
            await save_plan(session, patient=patient, steps=steps, actor="cli", now=NOW)

    await asyncio.wait_for(asyncio.gather(writer(), save()), timeout=20)
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(SafetyPlan)) == 1
