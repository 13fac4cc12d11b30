"""A patient's monitoring state: stopped by the patient, or unreachable on Telegram (§6).

Every change of `Patient.status` after consent happens here; consent is `enrollment`'s.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain.triage import Finding
from bot.services import checkin_states
from bot.services.cases import RaisedCase, raise_case
from storage import audit
from storage.checkins import open_checkins
from storage.models import Patient
from storage.patients import get_patient
from storage.states import DISPATCHER, CaseTrigger, PatientStatus, patient_actor


async def opt_out(
    session: AsyncSession, *, patient: Patient, clinic: ClinicConfig, now: datetime
) -> RaisedCase | None:
    """Stop all check-ins for a patient who asked to, and tell the care team (CLINICAL.md §6)."""
    assert patient.id is not None
    row = await get_patient(session, patient_id=patient.id)
    assert row is not None
    row.status, row.opted_out_at = PatientStatus.OPTED_OUT, now
    cancelled = await checkin_states.cancel_unsent(session, patient_id=patient.id, now=now)
    for checkin in await open_checkins(session, patient_id=patient.id):
        await checkin_states.close_checkin(
            session,
            checkin=checkin,
            patient=row,
            clinic=clinic,
            now=now,
            actor=patient_actor(patient.id),
        )
    await audit.append(
        session,
        at=now,
        actor=patient_actor(patient.id),
        event="patient.opted_out",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        detail={"cancelled_checkins": cancelled},
    )
    level = clinic.non_response.opted_out
    return await raise_case(
        session,
        patient=row,
        level=level,
        trigger=CaseTrigger.NON_RESPONSE,
        now=now,
        findings=[Finding(level, "patient stopped their check-ins (/stop)")],
    )


async def mark_unreachable(
    session: AsyncSession,
    *,
    patient_id: int,
    clinic: ClinicConfig,
    now: datetime,
    error: str | None,
) -> RaisedCase | None:
    """Telegram says blocked or gone: stop sending to this patient and tell the team (§6)."""
    patient = await get_patient(session, patient_id=patient_id)
    assert patient is not None
    if patient.status == PatientStatus.UNREACHABLE:
        return None
    patient.status = PatientStatus.UNREACHABLE
    cancelled = await checkin_states.cancel_unsent(session, patient_id=patient_id, now=now)
    await audit.append(
        session,
        at=now,
        actor=DISPATCHER,
        event="patient.unreachable",
        clinic_id=patient.clinic_id,
        patient_id=patient_id,
        detail={"error": error, "cancelled_checkins": cancelled},
    )
    level = clinic.non_response.unreachable
    reason = f"patient unreachable on Telegram ({error}); no more check-ins sent"
    return await raise_case(
        session,
        patient=patient,
        level=level,
        trigger=CaseTrigger.NON_RESPONSE,
        now=now,
        findings=[Finding(level, reason)],
    )
