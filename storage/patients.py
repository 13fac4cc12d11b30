"""Queries on patients."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage import audit
from storage.leases import is_postgres
from storage.models import Patient
from storage.states import Actor, PatientStatus


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


def telegram_language_changed(patient: Patient, language_code: str | None) -> bool:
    """Whether an update's language_code is news for this patient (none is never news)."""
    return bool(language_code) and language_code != patient.telegram_language


async def record_telegram_language(
    session: AsyncSession, *, patient: Patient, language_code: str | None
) -> bool:
    """Telegram's language_code as last seen: one UPDATE, only when it changed (an update
    without one changes nothing)."""
    if patient.id is None or not telegram_language_changed(patient, language_code):
        return False
    await session.execute(
        update(Patient).where(col(Patient.id) == patient.id).values(telegram_language=language_code)
    )
    patient.telegram_language = language_code
    return True


async def set_language(
    session: AsyncSession, *, patient: Patient, language: str | None, actor: Actor, now: datetime
) -> bool:
    """The patient's own language setting (None: the clinic's default), audited; False when it
    was already so."""
    if patient.id is None or language == patient.language:
        return False
    await audit.hold_chain(session)  # one lock order: the chain, then the patient's row
    await session.execute(
        update(Patient).where(col(Patient.id) == patient.id).values(language=language)
    )
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="patient.language",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        detail={"language": language or "default", "was": patient.language or "default"},
    )
    patient.language = language
    return True


async def erased_patient_ids(session: AsyncSession) -> list[int]:
    """Every erased patient's id (their data keys must be shredded)."""
    rows = await session.scalars(
        select(col(Patient.id)).where(col(Patient.status) == PatientStatus.ERASED)
    )
    return [pid for pid in rows if pid is not None]
