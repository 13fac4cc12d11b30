"""Queries on invites and clinicians."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage import audit
from storage.leases import is_postgres
from storage.models import Clinician, Invite


async def add_invite(session: AsyncSession, *, invite: Invite) -> Invite:
    session.add(invite)
    await session.flush()
    return invite


async def get_invite(session: AsyncSession, *, invite_id: int) -> Invite | None:
    """One invite by id, row-locked on PostgreSQL (two taps on "I agree" race for it), after the
    audit chain's lock: the order of every writer (an invite re-issued holds the chain, then
    expires this one)."""
    query = select(Invite).where(col(Invite.id) == invite_id)
    if is_postgres(session):
        await audit.hold_chain(session)
        query = query.with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=True))).first()


async def invite_by_hash(session: AsyncSession, *, token_hash: str) -> Invite | None:
    """The invite a token opens, row-locked after the audit chain's lock (as `get_invite`)."""
    query = select(Invite).where(col(Invite.token_hash) == token_hash)
    if is_postgres(session):
        await audit.hold_chain(session)
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def add_clinician(session: AsyncSession, *, clinician: Clinician) -> Clinician:
    session.add(clinician)
    await session.flush()
    return clinician


async def clinician_of(
    session: AsyncSession, *, clinic_id: str, telegram_user_id: int
) -> Clinician | None:
    rows = await session.scalars(
        select(Clinician).where(
            col(Clinician.clinic_id) == clinic_id,
            col(Clinician.telegram_user_id) == telegram_user_id,
        )
    )
    return rows.first()


async def clinicians_of_clinic(session: AsyncSession, *, clinic_id: str) -> list[Clinician]:
    rows = await session.scalars(
        select(Clinician)
        .where(col(Clinician.clinic_id) == clinic_id, col(Clinician.active).is_(True))
        .order_by(col(Clinician.id))
    )
    return list(rows.all())


async def clinician_chats(session: AsyncSession) -> list[int]:
    """The chat of every active clinician registration, each once."""
    rows = await session.scalars(
        select(col(Clinician.chat_id)).where(col(Clinician.active)).distinct()
    )
    return sorted(rows.all())


async def open_patient_invites(
    session: AsyncSession, *, patient_id: int, now: datetime
) -> list[Invite]:
    """A patient's invites that could still be used: not used, not expired."""
    rows = await session.scalars(
        select(Invite).where(
            col(Invite.patient_id) == patient_id,
            col(Invite.used_at).is_(None),
            col(Invite.expires_at) > now,
        )
    )
    return list(rows.all())


async def clinician_of_clinic(
    session: AsyncSession, *, clinic_id: str, clinician_id: int
) -> Clinician | None:
    """One clinician registration (active or not), if it is of this clinic."""
    rows = await session.scalars(
        select(Clinician)
        .where(col(Clinician.id) == clinician_id, col(Clinician.clinic_id) == clinic_id)
        .execution_options(populate_existing=True)
    )
    return rows.first()


async def team_of_clinic(session: AsyncSession, *, clinic_id: str) -> list[Clinician]:
    """Every clinician registration of the clinic, deactivated ones too, by id."""
    rows = await session.scalars(
        select(Clinician).where(col(Clinician.clinic_id) == clinic_id).order_by(col(Clinician.id))
    )
    return list(rows.all())


async def active_admins(
    session: AsyncSession, *, clinic_id: str, lock: bool = False
) -> list[Clinician]:
    """The clinic's active admins; `lock` for a change, row-locked on PostgreSQL (two admins
    demoting each other at once must not both pass the last-admin check), after the audit
    chain's lock: the order of every writer (an invite redeemed holds the chain, then
    reactivates its clinician). FOR NO KEY UPDATE: rows keyed to an admin (a shift, a console
    session) are still added beside it. Without `lock`, a read (a page's preview)."""
    query = (
        select(Clinician)
        .where(
            col(Clinician.clinic_id) == clinic_id,
            col(Clinician.active).is_(True),
            col(Clinician.is_admin).is_(True),
        )
        .order_by(col(Clinician.id))
    )
    if lock and is_postgres(session):
        await audit.hold_chain(session)
        query = query.with_for_update(key_share=True)
    return list((await session.scalars(query.execution_options(populate_existing=True))).all())


async def lock_clinician(session: AsyncSession, *, clinician_id: int) -> None:
    """Hold a clinician's row (PostgreSQL; SQLite's transactions are writers already), after
    the audit chain's lock, and refresh this session's copy of it: a change decided on that
    copy sees a deactivation or a promotion committed since it was read."""
    if is_postgres(session):
        await audit.hold_chain(session)
        await session.execute(
            select(Clinician)
            .where(col(Clinician.id) == clinician_id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
