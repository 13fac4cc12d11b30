"""Which patients a settings change re-plans, and what a save would do (the preview).

One rule serves the preview and the save, so the two counts agree: when the check-in plan's
shape (`ClinicConfig.plan_fingerprint`: protocols, quiet hours, answer windows) differs from the
one stored for the clinic, every monitored patient with an active infusion has their unsent
check-ins re-planned; otherwise none."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain.schedule import PlannedCheckin, plan_checkins
from bot.services.clinic.settings_shape import Change, changes_between
from bot.services.infusions import replan_patients
from storage.clinics import get_clinic, patients_with_active_infusions
from storage.models import Patient
from storage.states import Actor, ActorKind

log = logging.getLogger(__name__)

REPLAN_BATCH = 500  # patients re-planned per pair of reads


@dataclass(frozen=True)
class Preview:
    protocol: str
    infusion_at: datetime
    before: list[PlannedCheckin]
    after: list[PlannedCheckin]
    patients_replanned: int  # how many patients' unsent check-ins the save would re-plan
    changes: list[Change]


async def patients_to_replan(session: AsyncSession, *, clinic: ClinicConfig) -> list[Patient]:
    """The patients whose unsent check-ins saving `clinic` re-plans (the module's rule)."""
    row = await get_clinic(session, clinic_id=clinic.id)
    if row is None or row.plan_fingerprint == clinic.plan_fingerprint():
        return []
    return await patients_with_active_infusions(session, clinic_id=clinic.id)


async def preview(
    session: AsyncSession,
    *,
    before: ClinicConfig,
    after: ClinicConfig,
    protocol: str,
    infusion_at: datetime,
) -> Preview:
    """What a save would do: the planned check-ins of a sample infusion before and after, in the
    clinic's zone, and how many patients' unsent check-ins would be re-planned."""
    return Preview(
        protocol=protocol,
        infusion_at=infusion_at,
        before=_sample(before, protocol, infusion_at),
        after=_sample(after, protocol, infusion_at),
        patients_replanned=len(await patients_to_replan(session, clinic=after)),
        changes=changes_between(before, after),
    )


def _sample(clinic: ClinicConfig, protocol: str, infusion_at: datetime) -> list[PlannedCheckin]:
    if protocol not in clinic.protocols:
        return []
    return plan_checkins(
        infusion_at=infusion_at,
        protocol=clinic.protocol(protocol),
        zone=clinic.zone,
        quiet=clinic.quiet(),
    )


async def replan(
    session: AsyncSession,
    *,
    patients: list[Patient],
    clinic: ClinicConfig,
    now: datetime,
    actor: Actor,
) -> int:
    """Re-plan these patients' unsent check-ins in batches; how many patients."""
    for start in range(0, len(patients), REPLAN_BATCH):
        await replan_patients(
            session,
            patients=patients[start : start + REPLAN_BATCH],
            clinic=clinic,
            now=now,
            actor=actor,
        )
    log.info("plan.replanned clinic=%s patients=%d", clinic.id, len(patients))
    return len(patients)


async def replan_clinic(
    session: AsyncSession, *, clinic: ClinicConfig, now: datetime, actor: Actor | None = None
) -> int:
    """A clinic's protocols, quiet hours or windows changed: re-plan every unsent check-in."""
    patients = await patients_with_active_infusions(session, clinic_id=clinic.id)
    return await replan(
        session,
        patients=patients,
        clinic=clinic,
        now=now,
        actor=actor or Actor.of(ActorKind.CONFIG),
    )
