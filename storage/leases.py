"""Leased claims: how several dispatchers share work without sending anything twice.

A claim writes `lease_owner` and `lease_until` on the chosen rows; a row whose lease has
expired may be claimed again, so an instance that dies mid-send loses nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import BindParameter, ColumnElement, Integer, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Case, Checkin, PageEvent
from storage.models.care import CaringMessage
from storage.types import UTCDateTime

Leased = TypeVar("Leased", Checkin, Case, PageEvent, CaringMessage)

# What a claim's condition compares against; `claim` binds them on every call, so each claim
# statement is built, and its cache key computed, once per process rather than once per claim.
NOW: BindParameter[datetime] = bindparam("claim_now", type_=UTCDateTime())
ONLY_ID: BindParameter[int] = bindparam("claim_id")
_OWNER: BindParameter[str] = bindparam("claim_owner")
_UNTIL: BindParameter[datetime] = bindparam("claim_until", type_=UTCDateTime())
_LIMIT: BindParameter[int] = bindparam("claim_limit", type_=Integer)


def is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


class ClaimQuery(Generic[Leased]):
    """One kind of claim: the rows of `model` matching `condition` (written against `NOW`),
    oldest by `order` first, whose lease is free."""

    def __init__(
        self,
        model: type[Leased],
        condition: ColumnElement[bool],
        order: Any,
        *,
        takes_over: str | None = None,
        skip_locked: bool = True,
    ) -> None:
        self.model: type[Leased] = model
        self.condition = condition
        self.order = order
        self.takes_over = takes_over  # a lease owner whose rows count as free for this claim
        # PostgreSQL: skip rows another transaction has locked (a batch takes others instead), or
        # wait for them (a claim of one named row, which must not come back empty for a lock).
        self.skip_locked = skip_locked
        self._statements: dict[bool, Any] = {}

    def statement(self, *, postgres: bool) -> Any:
        """UPDATE ... WHERE id IN (due, lease-free, oldest first) ... RETURNING the rows."""
        built = self._statements.get(postgres)
        if built is None:
            model = self.model
            free = [col(model.lease_until).is_(None), col(model.lease_until) < NOW]
            if self.takes_over is not None:
                free.append(col(model.lease_owner) == self.takes_over)
            lease_free = or_(*free)
            chosen = (
                select(col(model.id))
                .where(self.condition, lease_free)
                .order_by(self.order)
                .limit(_LIMIT)
            )
            if postgres:
                chosen = chosen.with_for_update(skip_locked=self.skip_locked)
            built = (
                update(model)
                .where(col(model.id).in_(chosen.scalar_subquery()))
                .values(lease_owner=_OWNER, lease_until=_UNTIL)
                .returning(model)
                # RETURNING loads the claimed rows; the session must not evaluate the
                # placeholders above against objects it holds.
                .execution_options(synchronize_session=False, populate_existing=True)
            )
            self._statements[postgres] = built
        return built


async def claim(
    session: AsyncSession,
    query: ClaimQuery[Leased],
    *,
    now: datetime,
    owner: str,
    lease_until: datetime,
    limit: int,
    only_id: int | None = None,
) -> list[Leased]:
    """Lease up to `limit` matching rows (on PostgreSQL, skipping or waiting for rows another
    transaction has locked, as the query says)."""
    params: dict[str, Any] = {
        "claim_now": now,
        "claim_owner": owner,
        "claim_until": lease_until,
        "claim_limit": limit,
    }
    if only_id is not None:
        params["claim_id"] = only_id
    # One statement: choose, lease and read back the rows (UPDATE ... RETURNING).
    rows = await session.scalars(query.statement(postgres=is_postgres(session)), params)
    claimed: list[Leased] = list(rows.all())
    key = query.order.key
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
