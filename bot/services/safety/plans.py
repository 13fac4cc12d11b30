"""Safety plan versions: saved from the console (audited `safety_plan.saved`, never the
words), the current plan, the older versions, and who needs one ("no safety plan": a moderate
or high case in the last 30 days and no active plan)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import safety_plan as rules
from bot.domain.safety_plan import PlanItem, Steps
from storage import audit
from storage.models import Patient, SafetyPlan
from storage.safety.plans import add_plan, newest_plan, patients_without_plan, plan_versions
from storage.states import Actor, ActorKind
from storage.views.audit_log import clinician_names

NEEDS_PLAN_DAYS = 30


@dataclass(frozen=True)
class PlanStep:
    number: int  # 1–6
    title: str
    items: tuple[PlanItem, ...]


@dataclass(frozen=True)
class PlanVersion:
    id: int
    version: int
    active: bool
    created_at: datetime
    created_by: str  # the clinician's name, or who else saved it
    steps: tuple[PlanStep, ...]


def steps_of(plan: SafetyPlan) -> Steps:
    return rules.from_json(plan.steps)


def _version(plan: SafetyPlan, names: dict[int, str]) -> PlanVersion:
    assert plan.id is not None
    by = plan.created_by
    clinician = by.kind is ActorKind.CLINICIAN and by.ident is not None
    who = names.get(by.ident or 0, "a clinician") if clinician else by.kind.value
    return PlanVersion(
        id=plan.id,
        version=plan.version,
        active=plan.active,
        created_at=plan.created_at,
        created_by=who,
        steps=tuple(
            PlanStep(n, rules.step_title(n), items)
            for n, items in enumerate(steps_of(plan), start=1)
        ),
    )


async def versions(session: AsyncSession, *, clinic_id: str, patient_id: int) -> list[PlanVersion]:
    """Every version of the patient's plan, newest (the plan) first."""
    plans = await plan_versions(session, patient_id=patient_id)
    names = await clinician_names(session, clinic_id=clinic_id) if plans else {}
    return [_version(p, names) for p in plans]


async def current_plan(session: AsyncSession, *, patient_id: int) -> SafetyPlan | None:
    """The newest version, active or not."""
    return await newest_plan(session, patient_id=patient_id)


async def active_plan(session: AsyncSession, *, patient_id: int) -> SafetyPlan | None:
    """The plan the patient is shown: the newest version, only when it is active."""
    plan = await newest_plan(session, patient_id=patient_id)
    return plan if plan is not None and plan.active else None


async def save_plan(
    session: AsyncSession, *, patient: Patient, steps: Steps, actor: Actor, now: datetime
) -> SafetyPlan:
    """A new version of the patient's plan (the older ones kept), audited as
    `safety_plan.saved` with its version, whether it is active and how many items each step
    holds, never the words. The audit chain's lock comes first: the new row's key share on
    the patient's row must not be held while waiting for the chain (`audit.hold_chain`)."""
    assert patient.id is not None
    await audit.hold_chain(session)
    newest = await newest_plan(session, patient_id=patient.id)
    plan = await add_plan(
        session,
        plan=SafetyPlan(
            patient_id=patient.id,
            clinic_id=patient.clinic_id,
            version=(newest.version if newest else 0) + 1,
            steps=rules.to_json(steps),
            active=rules.is_active(steps),
            created_at=now,
            created_by=actor,
        ),
    )
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="safety_plan.saved",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        detail={
            "version": plan.version,
            "active": plan.active,
            "items": [len(items) for items in steps],
        },
    )
    return plan


async def without_plan(
    session: AsyncSession, *, clinic_id: str, now: datetime, patient_ids: tuple[int, ...] = ()
) -> set[int]:
    """Patients flagged "no safety plan": a moderate or high case unresolved or resolved in
    the last 30 days, and no active plan (CLINICAL.md §11)."""
    return await patients_without_plan(
        session,
        clinic_id=clinic_id,
        since=now - timedelta(days=NEEDS_PLAN_DAYS),
        patient_ids=patient_ids,
    )
