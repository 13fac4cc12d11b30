"""Core rows for the read-only views: no ORM objects, only the columns a page shows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncConnection


async def core_rows(
    conn: AsyncConnection, statement: Select[Any], params: dict[str, Any]
) -> Sequence[Any]:
    """`statement`'s rows as tuples. They are fetched inside SQLAlchemy's greenlet: a sealed
    cell whose key another instance made is opened there (storage/crypto/sealed), not in the
    event loop."""
    return await conn.run_sync(lambda sync: sync.execute(statement, params).tuples().all())
