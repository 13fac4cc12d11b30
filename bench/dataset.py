"""Bulk test data for the benchmarks: Core executemany INSERTs, in chunks, after migrations.

The clinic row is written by `bot.app.prepare` (migrations and clinic sync), so its plan
fingerprint matches the clinic file and a later `aftercare run` re-plans nothing. Rows get
explicit ids (so answers can point at check-ins); on PostgreSQL the id sequences are moved
past them afterwards, so rows the application inserts later do not collide.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

CLINIC = "north"
FIRST_CHAT = 50_000_000
CHUNK = 10_000

# Quiet hours off (start = end) so nothing waits; UTC; one offset check-in and no daily ones.
CLINIC_TOML = """
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "UTC"
contact_phone = "+1 555 0100"
quiet_hours = { start = "00:00", end = "00:00" }

[clinics.protocols.standard]
offsets = ["PT4H"]
red_flags_at = "PT4H"
daily_days = 0
"""

ITEMS = ("mood", "sleep", "anxiety", "pain", "nausea")

Rows = list[dict[str, Any]]


def chat_id(patient_id: int) -> int:
    return FIRST_CHAT + patient_id


def _table(model: Any) -> Table:
    return model.__table__  # type: ignore[no-any-return]


async def insert_chunked(
    engine: AsyncEngine, model: Any, rows: Iterator[dict[str, Any]], chunk: int = CHUNK
) -> int:
    """executemany of Core INSERTs, `chunk` rows per call, one transaction per chunk."""
    table, count, batch = _table(model), 0, []
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            async with engine.begin() as conn:
                await conn.execute(insert(table), batch)
            count, batch = count + len(batch), []
    if batch:
        async with engine.begin() as conn:
            await conn.execute(insert(table), batch)
        count += len(batch)
    return count


def patient_row(pid: int, now: datetime) -> dict[str, Any]:
    return {
        "id": pid,
        "clinic_id": CLINIC,
        "ref": f"P-{pid:07d}",
        "timezone": "UTC",
        "baseline_mood": 6,
        "emergency_contact": None,
        "display_name": None,
        "protocol": "standard",
        "chat_id": chat_id(pid),
        "telegram_user_id": chat_id(pid),
        "status": "active",
        "consented_at": now - timedelta(days=30),
        "opted_out_at": None,
        "created_at": now - timedelta(days=30),
    }


def infusion_row(pid: int, ended_at: datetime, now: datetime) -> dict[str, Any]:
    return {
        "id": pid,
        "patient_id": pid,
        "ended_at": ended_at,
        "protocol": "standard",
        "status": "active",
        "recorded_at": now - timedelta(days=2),
        "recorded_by": "bench",
    }


def checkin_row(cid: int, pid: int, due_at: datetime, now: datetime, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": cid,
        "patient_id": pid,
        "infusion_id": pid,
        "kind": "offset",
        "offset_seconds": 4 * 3600,
        "day": None,
        "asks_red_flags": False,
        "nominal_at": due_at,
        "due_at": due_at,
        "status": "scheduled",
        "sent_at": None,
        "message_id": None,
        "current_item": None,
        "reminder_due_at": None,
        "reminded_at": None,
        "closes_at": None,
        "closed_at": None,
        "risk_level": "none",
        "lease_owner": None,
        "lease_until": None,
        "attempts": 0,
        "last_error": None,
        "created_at": now - timedelta(days=2),
    }
    row.update(over)
    return row


async def fix_sequences(engine: AsyncEngine) -> None:
    """PostgreSQL: move each id sequence past the explicit ids inserted."""
    if engine.dialect.name != "postgresql":
        return
    async with engine.begin() as conn:
        for table in ("patient", "infusion", "checkin", "answer"):
            await conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
                )
            )


async def analyze(engine: AsyncEngine) -> None:
    """PostgreSQL: refresh planner statistics (as autovacuum would soon after a bulk load)."""
    if engine.dialect.name != "postgresql":
        return
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE"))


class Step:
    """Times and prints one populate step."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.started = time.monotonic()

    def done(self, what: str, count: int) -> None:
        elapsed = time.monotonic() - self.started
        rate = count / max(elapsed, 1e-9)
        self.say(f"  {what}: {count:,} rows in {elapsed:.1f}s ({rate:,.0f}/s)")
        self.started = time.monotonic()


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
