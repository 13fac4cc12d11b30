"""Clinic rows, and every saved version of a clinic's settings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Clinic, ClinicSettings, Infusion, Patient
from storage.states import InfusionStatus, PatientStatus


@dataclass(frozen=True)
class ClinicRow:
    id: str
    name: str
    timezone: str
    plan_fingerprint: str


async def sync_clinics(
    session: AsyncSession, *, clinics: Iterable[ClinicRow], now: datetime
) -> list[str]:
    """Insert or update clinic rows; returns the ids of existing clinics whose plan changed."""
    replan = []
    for clinic in clinics:
        row = await session.get(Clinic, clinic.id)
        if row is None:
            session.add(
                Clinic(
                    id=clinic.id,
                    name=clinic.name,
                    timezone=clinic.timezone,
                    plan_fingerprint=clinic.plan_fingerprint,
                    updated_at=now,
                )
            )
            continue
        if row.plan_fingerprint != clinic.plan_fingerprint:
            replan.append(clinic.id)
        if (row.name, row.timezone, row.plan_fingerprint) != (
            clinic.name,
            clinic.timezone,
            clinic.plan_fingerprint,
        ):
            row.name, row.timezone = clinic.name, clinic.timezone
            row.plan_fingerprint, row.updated_at = clinic.plan_fingerprint, now
    await session.flush()
    return replan


async def patients_with_active_infusions(session: AsyncSession, *, clinic_id: str) -> list[Patient]:
    """The clinic's patients still monitored (invited or active) with an active infusion: the
    ones a change of schedule re-plans (a stopped patient's check-ins stay cancelled)."""
    rows = await session.scalars(
        select(Patient)
        .where(
            col(Patient.clinic_id) == clinic_id,
            col(Patient.status).in_((PatientStatus.INVITED, PatientStatus.ACTIVE)),
            col(Patient.id).in_(
                select(col(Infusion.patient_id)).where(
                    col(Infusion.status) == InfusionStatus.ACTIVE
                )
            ),
        )
        .order_by(col(Patient.id))
    )
    return list(rows.all())


async def get_clinic(session: AsyncSession, *, clinic_id: str) -> Clinic | None:
    return await session.get(Clinic, clinic_id)


async def settings_versions(session: AsyncSession) -> dict[str, int]:
    """Each clinic's newest settings version: what every instance polls (one small read)."""
    rows = await session.execute(select(col(Clinic.id), col(Clinic.settings_version)))
    return {clinic_id: version for clinic_id, version in rows.all()}


async def settings_version(
    session: AsyncSession, *, clinic_id: str, version: int
) -> ClinicSettings | None:
    return await session.scalar(
        select(ClinicSettings).where(
            col(ClinicSettings.clinic_id) == clinic_id, col(ClinicSettings.version) == version
        )
    )


async def settings_history(
    session: AsyncSession, *, clinic_id: str, limit: int = 50
) -> list[ClinicSettings]:
    rows = await session.scalars(
        select(ClinicSettings)
        .where(col(ClinicSettings.clinic_id) == clinic_id)
        .order_by(col(ClinicSettings.version).desc())
        .limit(limit)
    )
    return list(rows.all())


async def add_settings_version(
    session: AsyncSession, *, row: ClinicSettings, expected_version: int
) -> bool:
    """Store `row` as the clinic's newest version if the newest is still `expected_version`
    (so two people saving at once cannot both win); False if someone saved in between."""
    moved = await session.execute(
        update(Clinic)
        .where(col(Clinic.id) == row.clinic_id, col(Clinic.settings_version) == expected_version)
        .values(settings_version=row.version)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.add(row)
    await session.flush()
    return True


async def protocols_in_use(session: AsyncSession, *, clinic_id: str) -> set[str]:
    """Protocols named by the clinic's patients or their active infusions."""
    of_patients = select(col(Patient.protocol)).where(
        col(Patient.clinic_id) == clinic_id, col(Patient.protocol).is_not(None)
    )
    of_infusions = (
        select(col(Infusion.protocol))
        .join(Patient, col(Patient.id) == col(Infusion.patient_id))
        .where(col(Patient.clinic_id) == clinic_id, col(Infusion.status) == InfusionStatus.ACTIVE)
    )
    rows = await session.scalars(of_patients.union(of_infusions))
    return {name for name in rows.all() if name}


async def claim_digest(session: AsyncSession, *, clinic_id: str, day: str) -> bool:
    """Take the clinic's digest for `day` (ISO date), once across every instance."""
    taken = await session.execute(
        update(Clinic)
        .where(
            col(Clinic.id) == clinic_id,
            (col(Clinic.digest_sent_on).is_(None)) | (col(Clinic.digest_sent_on) < day),
        )
        .values(digest_sent_on=day)
        .execution_options(synchronize_session=False)
    )
    return bool(taken.rowcount)  # type: ignore[attr-defined]
