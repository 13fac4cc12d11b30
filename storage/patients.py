"""Queries on patients."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage import audit
from storage.leases import is_postgres
from storage.models import Patient


async def patient_by_ref(session: AsyncSession, *, clinic_id: str, ref: str) -> Patient | None:
    rows = await session.scalars(
        select(Patient).where(col(Patient.clinic_id) == clinic_id, col(Patient.ref) == ref)
    )
    return rows.first()


async def patients_by_ref(session: AsyncSession, *, ref: str) -> list[Patient]:
    """Every patient with this reference, across clinics (the CLI without --clinic)."""
    rows = await session.scalars(select(Patient).where(col(Patient.ref) == ref))
    return list(rows.all())


async def get_patient(session: AsyncSession, *, patient_id: int) -> Patient | None:
    return await session.get(Patient, patient_id)


async def add_patient(session: AsyncSession, *, patient: Patient) -> Patient:
    session.add(patient)
    await session.flush()
    return patient


async def lock_patient(session: AsyncSession, *, patient_id: int) -> None:
    """Serialise writers of one patient's episode (PostgreSQL; SQLite's BEGIN IMMEDIATE does).
    The audit chain's lock comes first: one lock order for every writer (`audit.hold_chain`)."""
    if is_postgres(session):
        await audit.hold_chain(session)
        await session.execute(
            select(col(Patient.id)).where(col(Patient.id) == patient_id).with_for_update()
        )


async def patients_by_ids(session: AsyncSession, *, ids: Sequence[int]) -> dict[int, Patient]:
    if not ids:
        return {}
    rows = await session.scalars(select(Patient).where(col(Patient.id).in_(set(ids))))
    return {p.id: p for p in rows.all() if p.id is not None}
