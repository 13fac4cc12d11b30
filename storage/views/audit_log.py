"""Queries behind the console's audit log: one clinic's events, newest first, filtered, a
page at a time (keyset on id), and the names that make its actors readable."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import AuditEvent, Clinician, Patient


@dataclass(frozen=True)
class EventFilter:
    """What to keep; None keeps everything. `actor_kind` keeps `kind` and every `kind:ID`."""

    patient_id: int | None = None
    actor: str | None = None
    actor_kind: str | None = None
    event: str | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive


def _of_clinic(clinic_id: str) -> ColumnElement[bool]:
    """Events of the clinic: written for it, or about one of its patients."""
    patients = select(col(Patient.id)).where(col(Patient.clinic_id) == clinic_id)
    return or_(col(AuditEvent.clinic_id) == clinic_id, col(AuditEvent.patient_id).in_(patients))


async def clinic_events(
    session: AsyncSession,
    *,
    clinic_id: str,
    keep: EventFilter,
    before_id: int | None,
    limit: int,
) -> list[AuditEvent]:
    """Up to `limit` of the clinic's events matching `keep`, newest first, older than
    `before_id` when given."""
    query = select(AuditEvent).where(_of_clinic(clinic_id))
    if before_id is not None:
        query = query.where(col(AuditEvent.id) < before_id)
    if keep.patient_id is not None:
        query = query.where(col(AuditEvent.patient_id) == keep.patient_id)
    if keep.actor is not None:
        query = query.where(col(AuditEvent.actor) == keep.actor)
    if keep.actor_kind is not None:
        query = query.where(
            or_(
                col(AuditEvent.actor) == keep.actor_kind,
                col(AuditEvent.actor).startswith(f"{keep.actor_kind}:", autoescape=True),
            )
        )
    if keep.event is not None:
        query = query.where(col(AuditEvent.event) == keep.event)
    if keep.start is not None:
        query = query.where(col(AuditEvent.at) >= keep.start)
    if keep.end is not None:
        query = query.where(col(AuditEvent.at) < keep.end)
    rows = await session.scalars(query.order_by(col(AuditEvent.id).desc()).limit(limit))
    return list(rows.all())


async def event_kinds(session: AsyncSession) -> list[str]:
    """Every event name in the log (read from its index), sorted."""
    rows = await session.scalars(select(col(AuditEvent.event)).distinct())
    return sorted(rows.all())


async def clinician_names(session: AsyncSession, *, clinic_id: str) -> dict[int, str]:
    """Every clinician of the clinic by id, former ones included (they appear in the log)."""
    rows = await session.execute(
        select(col(Clinician.id), col(Clinician.name)).where(col(Clinician.clinic_id) == clinic_id)
    )
    return {cid: name for cid, name in rows.all() if cid is not None}


async def patient_refs(
    session: AsyncSession, *, clinic_id: str, ids: Collection[int]
) -> dict[int, str]:
    """The references of those of `ids` who are patients of the clinic."""
    if not ids:
        return {}
    rows = await session.execute(
        select(col(Patient.id), col(Patient.ref)).where(
            col(Patient.clinic_id) == clinic_id, col(Patient.id).in_(list(ids))
        )
    )
    return {pid: ref for pid, ref in rows.all() if pid is not None}
