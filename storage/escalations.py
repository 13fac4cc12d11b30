"""Every query on escalations and their pages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.leases import NOW, ONLY_ID, ClaimQuery, claim, is_postgres, release_all
from storage.models import Escalation, EscalationStatus, Page

UNRESOLVED = (EscalationStatus.OPEN, EscalationStatus.ACKNOWLEDGED)

_STEP_DUE = and_(
    col(Escalation.status) == EscalationStatus.OPEN, col(Escalation.next_step_at) <= NOW
)
_DUE_ESCALATIONS = ClaimQuery(Escalation, _STEP_DUE, col(Escalation.next_step_at))
_ONE_ESCALATION = ClaimQuery(
    Escalation, and_(_STEP_DUE, col(Escalation.id) == ONLY_ID), col(Escalation.next_step_at)
)


async def current_for_patient(session: AsyncSession, *, patient_id: int) -> Escalation | None:
    """The patient's unresolved escalation (one per episode), row-locked on PostgreSQL."""
    query = (
        select(Escalation)
        .where(col(Escalation.patient_id) == patient_id, col(Escalation.status).in_(UNRESOLVED))
        .order_by(col(Escalation.id).desc())
        .limit(1)
    )
    if is_postgres(session):
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
    if lock and is_postgres(session):
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
    return await claim(
        session,
        _DUE_ESCALATIONS if only_id is None else _ONE_ESCALATION,
        now=now,
        owner=owner,
        lease_until=lease_until,
        limit=limit,
        only_id=only_id,
    )


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
    """Hand back every escalation claim this instance holds (clean shutdown)."""
    return await release_all(session, Escalation, owner=owner)


async def any_page_sent(session: AsyncSession, *, escalation_id: int, step: int) -> bool:
    """Whether any page of that rung reached its clinician."""
    found = await session.scalar(
        select(col(Page.id))
        .where(
            col(Page.escalation_id) == escalation_id,
            col(Page.step) == step,
            col(Page.status) == "sent",
        )
        .limit(1)
    )
    return found is not None
