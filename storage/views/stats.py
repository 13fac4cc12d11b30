"""Counts for the operational metrics, read at scrape time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Case, Checkin
from storage.states import CaseStatus, CheckinStatus


async def due_checkins(session: AsyncSession, *, now: datetime) -> int:
    """Scheduled check-ins whose time has come (waiting to be sent)."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Checkin)
            .where(col(Checkin.status) == CheckinStatus.SCHEDULED, col(Checkin.due_at) <= now)
        )
        or 0
    )


async def open_escalations(session: AsyncSession) -> dict[str, int]:
    """Unacknowledged escalations by level."""
    rows = await session.execute(
        select(col(Case.level), func.count())
        .where(col(Case.status) == CaseStatus.OPEN)
        .group_by(col(Case.level))
    )
    return {level: int(count) for level, count in rows.tuples()}


async def oldest_unacknowledged(session: AsyncSession) -> datetime | None:
    """When the oldest still-unacknowledged escalation's ladder started."""
    return await session.scalar(
        select(func.min(col(Case.ladder_started_at))).where(col(Case.status) == CaseStatus.OPEN)
    )
