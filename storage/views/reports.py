"""Read-only queries behind the clinician commands /patients and /history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.cases import UNRESOLVED
from storage.models import Answer, Case, Checkin, Clinician, Patient
from storage.states import CheckinStatus


@dataclass(frozen=True)
class PatientLine:
    patient: Patient
    last_checkin: Checkin | None
    last_mood: int | None
    open_level: str | None


async def patients_of_clinic(session: AsyncSession, *, clinic_id: str) -> list[PatientLine]:
    """Each patient with their last sent check-in, last mood and open escalation level."""
    patients = (
        await session.scalars(
            select(Patient).where(col(Patient.clinic_id) == clinic_id).order_by(col(Patient.ref))
        )
    ).all()
    lines = []
    for patient in patients:
        last = (
            await session.scalars(
                select(Checkin)
                .where(col(Checkin.patient_id) == patient.id, col(Checkin.sent_at).is_not(None))
                .order_by(col(Checkin.sent_at).desc())
                .limit(1)
            )
        ).first()
        mood = (
            await session.scalars(
                select(col(Answer.value))
                .where(col(Answer.patient_id) == patient.id, col(Answer.item_id) == "mood")
                .order_by(col(Answer.answered_at).desc())
                .limit(1)
            )
        ).first()
        level = (
            await session.scalars(
                select(col(Case.level))
                .where(col(Case.patient_id) == patient.id, col(Case.status).in_(UNRESOLVED))
                .order_by(col(Case.id).desc())
                .limit(1)
            )
        ).first()
        lines.append(PatientLine(patient, last, int(mood) if mood else None, level))
    return lines


async def history(
    session: AsyncSession, *, patient_id: int, since: datetime, limit: int = 20
) -> list[tuple[Checkin, dict[str, str]]]:
    """The patient's recent check-ins (newest first) with their answers."""
    checkins = (
        await session.scalars(
            select(Checkin)
            .where(
                col(Checkin.patient_id) == patient_id,
                col(Checkin.due_at) >= since,
                col(Checkin.status).not_in(
                    (CheckinStatus.SCHEDULED, CheckinStatus.CANCELLED, CheckinStatus.SUPERSEDED)
                ),
            )
            .order_by(col(Checkin.due_at).desc())
            .limit(limit)
        )
    ).all()
    result = []
    for checkin in checkins:
        rows = await session.execute(
            select(col(Answer.item_id), col(Answer.value))
            .where(col(Answer.checkin_id) == checkin.id)
            .order_by(col(Answer.id))
        )
        result.append((checkin, {item: value for item, value in rows.tuples()}))
    return result


async def clinicians_by_ids(session: AsyncSession, *, ids: list[int]) -> list[Clinician]:
    if not ids:
        return []
    rows = await session.scalars(select(Clinician).where(col(Clinician.id).in_(ids)))
    return list(rows.all())


async def messages_of(
    session: AsyncSession, *, patient_id: int, since: datetime, limit: int = 10
) -> list[Answer]:
    """Words the patient typed outside check-ins (and late answers), newest first."""
    rows = await session.scalars(
        select(Answer)
        .where(
            col(Answer.patient_id) == patient_id,
            col(Answer.checkin_id).is_(None),
            col(Answer.answered_at) >= since,
        )
        .order_by(col(Answer.answered_at).desc())
        .limit(limit)
    )
    return list(rows.all())
