"""Queries on on-call shifts and on clinicians by name."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage import audit
from storage.leases import is_postgres
from storage.models import Clinician, OnCallShift
from storage.states import ShiftSource


async def add_shift(session: AsyncSession, *, shift: OnCallShift) -> OnCallShift:
    """Insert a shift and return it with its id."""
    session.add(shift)
    await session.flush()
    return shift


async def shifts_covering(
    session: AsyncSession, *, clinic_id: str, at: datetime
) -> list[OnCallShift]:
    """The clinic's shifts with starts_at <= at < ends_at, oldest created first."""
    rows = await session.scalars(
        select(OnCallShift)
        .where(
            col(OnCallShift.clinic_id) == clinic_id,
            col(OnCallShift.starts_at) <= at,
            col(OnCallShift.ends_at) > at,
        )
        .order_by(col(OnCallShift.created_at), col(OnCallShift.id))
    )
    return list(rows.all())


async def shifts_overlapping(
    session: AsyncSession, *, clinic_id: str, start: datetime, end: datetime
) -> list[OnCallShift]:
    """The clinic's shifts overlapping [start, end), by start time."""
    rows = await session.scalars(
        select(OnCallShift)
        .where(
            col(OnCallShift.clinic_id) == clinic_id,
            col(OnCallShift.starts_at) < end,
            col(OnCallShift.ends_at) > start,
        )
        .order_by(col(OnCallShift.starts_at), col(OnCallShift.id))
    )
    return list(rows.all())


async def end_shifts(
    session: AsyncSession,
    *,
    clinician_id: int,
    now: datetime,
    source: ShiftSource = ShiftSource.BOT,
) -> list[OnCallShift]:
    """End the clinician's shifts of `source` not yet over at `now`; returns those changed."""
    rows = await session.scalars(
        select(OnCallShift).where(
            col(OnCallShift.clinician_id) == clinician_id,
            col(OnCallShift.source) == source,
            col(OnCallShift.ends_at) > now,
        )
    )
    ended = list(rows.all())
    for shift in ended:
        shift.ends_at = max(shift.starts_at, now)  # a future shift shrinks to nothing
    await session.flush()
    return ended


async def clinicians_named(session: AsyncSession, *, clinic_id: str, name: str) -> list[Clinician]:
    """Active clinicians of the clinic with this name (case-insensitive, trimmed), by id."""
    # Compared in Python: SQLite's lower() folds ASCII only, so "Élise" would not match.
    wanted = name.strip().casefold()
    rows = await session.scalars(
        select(Clinician)
        .where(col(Clinician.clinic_id) == clinic_id, col(Clinician.active).is_(True))
        .order_by(col(Clinician.id))
    )
    return [row for row in rows.all() if row.name.strip().casefold() == wanted]


async def clinician_by_name(
    session: AsyncSession, *, clinic_id: str, name: str
) -> Clinician | None:
    """The earliest-registered active clinician of the clinic with this name, if any."""
    found = await clinicians_named(session, clinic_id=clinic_id, name=name)
    return found[0] if found else None


async def shift_of_clinic(
    session: AsyncSession, *, clinic_id: str, shift_id: int, lock: bool = False
) -> OnCallShift | None:
    """One shift, if it belongs to this clinic (another clinic's is None, like a missing one).
    `lock` (PostgreSQL): row-locked after the audit chain's lock, the order of every writer (a
    deactivation holds the chain, then ends the clinician's shifts)."""
    query = select(OnCallShift).where(
        col(OnCallShift.id) == shift_id, col(OnCallShift.clinic_id) == clinic_id
    )
    if lock and is_postgres(session):
        await audit.hold_chain(session)
        query = query.with_for_update()
    rows = await session.scalars(query.execution_options(populate_existing=True))
    return rows.first()


async def end_every_shift(
    session: AsyncSession, *, clinic_id: str, clinician_id: int, now: datetime
) -> list[OnCallShift]:
    """End the clinician's shifts in the clinic not yet over at `now`, whatever their source
    (a future shift shrinks to nothing); returns those changed."""
    rows = await session.scalars(
        select(OnCallShift).where(
            col(OnCallShift.clinic_id) == clinic_id,
            col(OnCallShift.clinician_id) == clinician_id,
            col(OnCallShift.ends_at) > now,
        )
    )
    ended = [row for row in rows.all() if row.ends_at > row.starts_at]
    for shift in ended:
        shift.ends_at = max(shift.starts_at, now)
    await session.flush()
    return ended
