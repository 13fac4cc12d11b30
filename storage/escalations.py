"""Every query on escalations and their pages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Escalation, EscalationStatus, Page

UNRESOLVED = (EscalationStatus.OPEN, EscalationStatus.ACKNOWLEDGED)


async def current_for_patient(session: AsyncSession, *, patient_id: int) -> Escalation | None:
    """The patient's unresolved escalation (one per episode), row-locked on PostgreSQL."""
    query = (
        select(Escalation)
        .where(col(Escalation.patient_id) == patient_id, col(Escalation.status).in_(UNRESOLVED))
        .order_by(col(Escalation.id).desc())
        .limit(1)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def add_escalation(session: AsyncSession, *, escalation: Escalation) -> Escalation:
    session.add(escalation)
    await session.flush()
    return escalation


async def get_escalation(
    session: AsyncSession, *, escalation_id: int, lock: bool = False
) -> Escalation | None:
    query = select(Escalation).where(col(Escalation.id) == escalation_id)
    if lock and session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=True))).first()


async def claim_due_escalations(
    session: AsyncSession,
    *,
    now: datetime,
    owner: str,
    lease_until: datetime,
    limit: int,
    only_id: int | None = None,
) -> list[Escalation]:
    """Open escalations whose next ladder step is due, under a lease."""
    conditions = [
        col(Escalation.status) == EscalationStatus.OPEN,
        col(Escalation.next_step_at) <= now,
        or_(col(Escalation.lease_until).is_(None), col(Escalation.lease_until) < now),
    ]
    if only_id is not None:
        conditions.append(col(Escalation.id) == only_id)
    query = (
        select(col(Escalation.id))
        .where(and_(*conditions))
        .order_by(col(Escalation.next_step_at))
        .limit(limit)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list((await session.scalars(query)).all())
    if not ids:
        return []
    await session.execute(
        update(Escalation)
        .where(col(Escalation.id).in_(ids))
        .values(lease_owner=owner, lease_until=lease_until)
    )
    rows = await session.scalars(
        select(Escalation)
        .where(col(Escalation.id).in_(ids))
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


async def add_page(session: AsyncSession, *, page: Page) -> Page:
    session.add(page)
    await session.flush()
    return page


async def pages_of(session: AsyncSession, *, escalation_id: int) -> list[Page]:
    rows = await session.scalars(
        select(Page).where(col(Page.escalation_id) == escalation_id).order_by(col(Page.id))
    )
    return list(rows.all())


async def unresolved_for_clinic(session: AsyncSession, *, clinic_id: str) -> list[Escalation]:
    """Open and acknowledged escalations of a clinic, oldest first."""
    rows = await session.scalars(
        select(Escalation)
        .where(col(Escalation.clinic_id) == clinic_id, col(Escalation.status).in_(UNRESOLVED))
        .order_by(col(Escalation.opened_at))
    )
    return list(rows.all())


async def release_escalation_leases(session: AsyncSession, *, owner: str) -> int:
    result = await session.execute(
        update(Escalation)
        .where(col(Escalation.lease_owner) == owner)
        .values(lease_owner=None, lease_until=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
