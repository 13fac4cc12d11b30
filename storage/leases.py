"""Leased claims: how several dispatchers share work without sending anything twice.

A claim writes `lease_owner` and `lease_until` on the chosen rows; a row whose lease has
expired may be claimed again, so an instance that dies mid-send loses nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Checkin, Escalation

Leased = TypeVar("Leased", Checkin, Escalation)


def is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


async def claim(
    session: AsyncSession,
    model: type[Leased],
    condition: ColumnElement[bool],
    order: Any,
    *,
    now: datetime,
    owner: str,
    lease_until: datetime,
    limit: int,
) -> list[Leased]:
    """Lease up to `limit` matching rows; PostgreSQL skips rows another instance has locked."""
    lease_free = or_(col(model.lease_until).is_(None), col(model.lease_until) < now)
    chosen = select(col(model.id)).where(condition, lease_free).order_by(order).limit(limit)
    if is_postgres(session):
        chosen = chosen.with_for_update(skip_locked=True)
    # One statement: choose, lease and read back the rows (UPDATE ... RETURNING).
    rows = await session.scalars(
        update(model)
        .where(col(model.id).in_(chosen.scalar_subquery()))
        .values(lease_owner=owner, lease_until=lease_until)
        .returning(model),
        execution_options={"populate_existing": True},
    )
    claimed = list(rows.all())
    key = order.key
    claimed.sort(key=lambda row: getattr(row, key))
    return claimed


async def release_all(session: AsyncSession, model: type[Leased], *, owner: str) -> int:
    """Hand back every claim an instance holds (clean shutdown)."""
    result = await session.execute(
        update(model)
        .where(col(model.lease_owner) == owner)
        .values(lease_owner=None, lease_until=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
