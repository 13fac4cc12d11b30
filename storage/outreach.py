"""Every query on a case's outreach log and its clock (`Case.outreach_due_at`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.leases import NOW, ClaimQuery, claim
from storage.models import Case, Outreach
from storage.states import CaseStatus

# An acknowledged case whose outreach target has passed (ix_escalation_outreach_due). An open
# case is left to its ladder: it is being paged already.
_OVERDUE = ClaimQuery(
    Case,
    and_(col(Case.status) == CaseStatus.ACKNOWLEDGED, col(Case.outreach_due_at) <= NOW),
    col(Case.outreach_due_at),
)


async def add_outreach(session: AsyncSession, *, attempt: Outreach) -> Outreach:
    session.add(attempt)
    await session.flush()
    return attempt


async def outreach_of_cases(
    session: AsyncSession, *, case_ids: Sequence[int]
) -> dict[int, list[Outreach]]:
    """Each case's attempts, in the order they were made."""
    found: dict[int, list[Outreach]] = {i: [] for i in case_ids}
    if not case_ids:
        return found
    rows = await session.scalars(
        select(Outreach)
        .where(col(Outreach.case_id).in_(list(case_ids)))
        .order_by(col(Outreach.at), col(Outreach.id))
    )
    for row in rows.all():
        found.setdefault(row.case_id, []).append(row)
    return found


async def claim_overdue_outreach(
    session: AsyncSession, *, now: datetime, owner: str, lease_until: datetime, limit: int
) -> list[Case]:
    """Acknowledged cases past their outreach target, under a lease (`FOR UPDATE SKIP LOCKED`
    on PostgreSQL, so two instances never act on one)."""
    return await claim(
        session, _OVERDUE, now=now, owner=owner, lease_until=lease_until, limit=limit
    )
