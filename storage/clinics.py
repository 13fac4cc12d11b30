"""Clinic rows mirrored from the configuration file."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Clinic, Infusion, Patient


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
    rows = await session.scalars(
        select(Patient)
        .where(
            col(Patient.clinic_id) == clinic_id,
            col(Patient.id).in_(
                select(col(Infusion.patient_id)).where(col(Infusion.status) == "active")
            ),
        )
        .order_by(col(Patient.id))
    )
    return list(rows.all())
