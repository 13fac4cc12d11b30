"""Looking at a patient's record from the console: found only within the viewer's clinic, and
every look audited (who saw whose record, when), as a clinical record system does."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage import audit
from storage.models import Patient
from storage.patients import patient_by_ref
from storage.states import Actor


async def patient_of_clinic(session: AsyncSession, *, clinic_id: str, ref: str) -> Patient | None:
    """The clinic's patient with this reference; another clinic's is None, like an unknown one."""
    return await patient_by_ref(session, clinic_id=clinic_id, ref=ref)


async def record_view(
    session: AsyncSession, *, patient: Patient, actor: Actor, now: datetime
) -> None:
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="console.viewed_patient",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
    )
