"""Queries on console sign-in links and sessions (only token hashes are stored)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from storage.models import AckLink, Clinician, ConsoleLink, ConsoleSession
from storage.states import SessionEnd


async def add_link(session: AsyncSession, *, link: ConsoleLink) -> ConsoleLink:
    session.add(link)
    await session.flush()
    return link


async def link_by_hash(session: AsyncSession, *, token_hash: str) -> ConsoleLink | None:
    return (
        await session.scalars(select(ConsoleLink).where(col(ConsoleLink.token_hash) == token_hash))
    ).first()


async def use_link(session: AsyncSession, *, link_id: int, now: datetime) -> bool:
    """Mark a link used if it is still unused and unexpired; False if another request won."""
    result = await session.execute(
        update(ConsoleLink)
        .where(
            col(ConsoleLink.id) == link_id,
            col(ConsoleLink.used_at).is_(None),
            col(ConsoleLink.expires_at) > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def mark_seen(session: AsyncSession, *, session_id: int, now: datetime) -> bool:
    """A request's activity on a live session (its idle expiry starts again); False if the
    session ended meanwhile."""
    result = await session.execute(
        update(ConsoleSession)
        .where(
            col(ConsoleSession.id) == session_id,
            col(ConsoleSession.ended_at).is_(None),
            col(ConsoleSession.last_seen_at) < now,
        )
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def add_session(session: AsyncSession, *, row: ConsoleSession) -> ConsoleSession:
    session.add(row)
    await session.flush()
    return row


async def session_by_hash(session: AsyncSession, *, token_hash: str) -> ConsoleSession | None:
    return (
        await session.scalars(
            select(ConsoleSession)
            .where(col(ConsoleSession.token_hash) == token_hash)
            .execution_options(populate_existing=True)
        )
    ).first()


async def end_sessions(
    session: AsyncSession, *, telegram_user_id: int, now: datetime, by: SessionEnd
) -> int:
    """End every live session of one person (all their registrations); how many ended."""
    return await _end_live(
        session, col(ConsoleSession.telegram_user_id) == telegram_user_id, now=now, by=by
    )


async def end_registration_sessions(
    session: AsyncSession, *, clinician_id: int, now: datetime, by: SessionEnd
) -> int:
    """End every live session working as this one registration (one clinic); the same
    person's sessions working in another clinic go on. How many ended."""
    return await _end_live(
        session, col(ConsoleSession.clinician_id) == clinician_id, now=now, by=by
    )


async def _end_live(
    session: AsyncSession, whose: ColumnElement[bool], *, now: datetime, by: SessionEnd
) -> int:
    result = await session.execute(
        update(ConsoleSession)
        .where(
            whose,
            col(ConsoleSession.ended_at).is_(None),
            col(ConsoleSession.expires_at) > now,
        )
        .values(ended_at=now, ended_by=by)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def registrations(session: AsyncSession, *, telegram_user_id: int) -> list[Clinician]:
    """The active clinician registrations of one Telegram account, by clinic."""
    rows = await session.scalars(
        select(Clinician)
        .where(col(Clinician.telegram_user_id) == telegram_user_id, col(Clinician.active))
        .order_by(col(Clinician.clinic_id))
    )
    return list(rows.all())


async def clinician_named(session: AsyncSession, *, clinic_id: str, name: str) -> list[Clinician]:
    """Active clinicians of a clinic registered under this name (case-insensitive)."""
    rows = await session.scalars(
        select(Clinician).where(
            col(Clinician.clinic_id) == clinic_id,
            col(Clinician.active),
            func.lower(col(Clinician.name)) == name.lower(),
        )
    )
    return list(rows.all())


async def add_ack_link(session: AsyncSession, *, link: AckLink) -> AckLink:
    session.add(link)
    await session.flush()
    return link


async def ack_link_by_hash(session: AsyncSession, *, token_hash: str) -> AckLink | None:
    return await session.scalar(select(AckLink).where(col(AckLink.token_hash) == token_hash))


async def spend_ack_link(session: AsyncSession, *, link_id: int, now: datetime) -> bool:
    """Mark the link used, once: False if it already was (a second click, a race)."""
    spent = await session.execute(
        update(AckLink)
        .where(col(AckLink.id) == link_id, col(AckLink.used_at).is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(spent.rowcount)  # type: ignore[attr-defined]
