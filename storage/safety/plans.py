"""Safety plan versions and what the patient did with them: stored, newest found, listed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.cases import UNRESOLVED
from storage.models import Case, Patient, SafetyPlan, SafetyPlanEvent
from storage.states import Level, PlanEventKind


async def newest_plan(session: AsyncSession, *, patient_id: int) -> SafetyPlan | None:
    """The plan: the patient's newest version, active or not."""
    rows = await session.scalars(
        select(SafetyPlan)
        .where(col(SafetyPlan.patient_id) == patient_id)
        .order_by(col(SafetyPlan.version).desc())
        .limit(1)
    )
    return rows.first()


async def plan_versions(session: AsyncSession, *, patient_id: int) -> list[SafetyPlan]:
    """Every version, newest first."""
    rows = await session.scalars(
        select(SafetyPlan)
        .where(col(SafetyPlan.patient_id) == patient_id)
        .order_by(col(SafetyPlan.version).desc())
    )
    return list(rows.all())


async def get_plan(session: AsyncSession, *, plan_id: int) -> SafetyPlan | None:
    return await session.get(SafetyPlan, plan_id)


async def add_plan(session: AsyncSession, *, plan: SafetyPlan) -> SafetyPlan:
    session.add(plan)
    await session.flush()
    return plan


async def add_plan_event(session: AsyncSession, *, event: SafetyPlanEvent) -> SafetyPlanEvent:
    session.add(event)
    await session.flush()
    return event


async def plan_events(
    session: AsyncSession,
    *,
    patient_id: int,
    case_id: int | None = None,
    since: datetime | None = None,
) -> list[SafetyPlanEvent]:
    """The patient's plan events (of one case, when given), oldest first."""
    query = select(SafetyPlanEvent).where(col(SafetyPlanEvent.patient_id) == patient_id)
    if case_id is not None:
        query = query.where(col(SafetyPlanEvent.case_id) == case_id)
    if since is not None:
        query = query.where(col(SafetyPlanEvent.at) >= since)
    rows = await session.scalars(query.order_by(col(SafetyPlanEvent.at), col(SafetyPlanEvent.id)))
    return list(rows.all())


async def last_shown_at(session: AsyncSession, *, patient_id: int) -> datetime | None:
    """When the plan was last shown to the patient (a positive screen or /plan)."""
    return await session.scalar(
        select(func.max(SafetyPlanEvent.at)).where(
            col(SafetyPlanEvent.patient_id) == patient_id,
            col(SafetyPlanEvent.kind) == PlanEventKind.SHOWN,
        )
    )


async def patients_without_plan(
    session: AsyncSession, *, clinic_id: str, since: datetime, patient_ids: Sequence[int] = ()
) -> set[int]:
    """Patients of the clinic with a moderate or high case alive since `since` (unresolved,
    or resolved since then) whose newest plan is not active, or who have none."""
    newest = (
        select(col(SafetyPlan.patient_id), func.max(SafetyPlan.version).label("version"))
        .where(col(SafetyPlan.clinic_id) == clinic_id)
        .group_by(col(SafetyPlan.patient_id))
        .subquery()
    )
    active = (
        select(col(SafetyPlan.patient_id))
        .join(
            newest,
            (newest.c.patient_id == col(SafetyPlan.patient_id))
            & (newest.c.version == col(SafetyPlan.version)),
        )
        .where(col(SafetyPlan.active))
    )
    query = select(col(Case.patient_id)).where(
        col(Case.clinic_id) == clinic_id,
        col(Case.level).in_([Level.MODERATE, Level.HIGH]),
        or_(col(Case.resolved_at).is_(None), col(Case.resolved_at) >= since),
        col(Case.patient_id).not_in(active),
    )
    if patient_ids:
        query = query.where(col(Case.patient_id).in_(set(patient_ids)))
    return set((await session.scalars(query.distinct())).all())


async def open_case_id(session: AsyncSession, *, patient_id: int) -> int | None:
    """The patient's unresolved case, if any (no lock: the event only names it)."""
    return await session.scalar(
        select(col(Case.id))
        .where(col(Case.patient_id) == patient_id, col(Case.status).in_(UNRESOLVED))
        .order_by(col(Case.id).desc())
        .limit(1)
    )


async def current_plans(
    session: AsyncSession, *, clinic_id: str, patient_ref: str | None = None
) -> list[tuple[str, SafetyPlan]]:
    """(patient ref, newest plan) of every patient of the clinic with a plan (or of the
    patient `patient_ref` only), by ref."""
    newest = (
        select(col(SafetyPlan.patient_id), func.max(SafetyPlan.version).label("version"))
        .where(col(SafetyPlan.clinic_id) == clinic_id)
        .group_by(col(SafetyPlan.patient_id))
        .subquery()
    )
    query = (
        select(col(Patient.ref), SafetyPlan)
        .join(Patient, col(Patient.id) == col(SafetyPlan.patient_id))
        .join(
            newest,
            (newest.c.patient_id == col(SafetyPlan.patient_id))
            & (newest.c.version == col(SafetyPlan.version)),
        )
        .where(col(SafetyPlan.clinic_id) == clinic_id)
        .order_by(col(Patient.ref))
    )
    if patient_ref is not None:
        query = query.where(col(Patient.ref) == patient_ref)
    rows = await session.execute(query)
    return [(ref, plan) for ref, plan in rows.tuples().all()]
