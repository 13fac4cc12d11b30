"""Queries on the clinics' webhook signing secrets (kept encrypted; `WebhookSecret`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from storage import audit
from storage.models import Case, Clinic, WebhookSecret


def _live(now: datetime) -> ColumnElement[bool]:
    return or_(col(WebhookSecret.expires_at).is_(None), col(WebhookSecret.expires_at) > now)


async def add_webhook_secret(session: AsyncSession, *, row: WebhookSecret) -> WebhookSecret:
    session.add(row)
    await session.flush()
    return row


async def lock_clinic(session: AsyncSession, *, clinic_id: str) -> bool:
    """Hold the clinic's row until the transaction ends (PostgreSQL; SQLite's transactions
    are writers already), so two rotations of its secret go one after the other. False when
    there is no such clinic. The audit chain's lock is taken first, as every writer does
    before the clinic's row (a settings save); and it is FOR NO KEY UPDATE, so rows keyed to
    the clinic (a case raised, an invite) are still added beside it."""
    await audit.hold_chain(session)
    found = await session.scalar(
        select(col(Clinic.id)).where(col(Clinic.id) == clinic_id).with_for_update(key_share=True)
    )
    return found is not None


async def live_webhook_secrets(
    session: AsyncSession, *, clinic_id: str, now: datetime
) -> list[WebhookSecret]:
    """The clinic's secrets that sign now, the newest first."""
    rows = await session.scalars(
        select(WebhookSecret)
        .where(col(WebhookSecret.clinic_id) == clinic_id, _live(now))
        .order_by(col(WebhookSecret.id).desc())
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


async def live_webhook_secrets_of_cases(
    session: AsyncSession, *, case_ids: Iterable[int], now: datetime
) -> dict[int, tuple[str, list[WebhookSecret]]]:
    """Each case's clinic and that clinic's secrets that sign now (the newest first); a case
    whose clinic has none maps to its clinic and an empty list."""
    wanted = sorted(set(case_ids))
    if not wanted:
        return {}
    found = await session.execute(
        select(col(Case.id), col(Case.clinic_id)).where(col(Case.id).in_(wanted))
    )
    clinics = {case_id: clinic_id for case_id, clinic_id in found.tuples() if case_id is not None}
    rows = await session.scalars(
        select(WebhookSecret)
        .where(col(WebhookSecret.clinic_id).in_(set(clinics.values())), _live(now))
        .order_by(col(WebhookSecret.id).desc())
    )
    by_clinic: dict[str, list[WebhookSecret]] = {}
    for row in rows.all():
        by_clinic.setdefault(row.clinic_id, []).append(row)
    return {case: (clinic, by_clinic.get(clinic, [])) for case, clinic in clinics.items()}


async def clinics_with_webhook_secrets(session: AsyncSession, *, now: datetime) -> set[str]:
    """The clinics that have a secret signing now."""
    rows = await session.scalars(select(col(WebhookSecret.clinic_id)).where(_live(now)).distinct())
    return set(rows.all())
