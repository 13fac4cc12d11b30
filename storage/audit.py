"""The append-only audit log: each row carries the SHA-256 of the row before it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import AuditEvent

GENESIS = "0" * 64
_PG_AUDIT_LOCK = 72_001  # advisory lock id serialising appends across instances


def row_hash(event: AuditEvent) -> str:
    """The hash over a row's content and its predecessor's hash."""
    body = json.dumps(
        [
            event.id,
            event.at.isoformat(),
            event.actor,
            event.event,
            event.clinic_id,
            event.patient_id,
            event.checkin_id,
            event.escalation_id,
            event.detail,
            event.prev_hash,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode()).hexdigest()


async def append(
    session: AsyncSession,
    *,
    at: datetime,
    actor: str,
    event: str,
    clinic_id: str | None = None,
    patient_id: int | None = None,
    checkin_id: int | None = None,
    escalation_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction, chained to the last one."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text(f"SELECT pg_advisory_xact_lock({_PG_AUDIT_LOCK})"))
    last = (
        await session.execute(
            select(col(AuditEvent.id), col(AuditEvent.hash))
            .order_by(col(AuditEvent.id).desc())
            .limit(1)
        )
    ).first()
    row = AuditEvent(
        id=(last[0] + 1) if last else 1,
        at=at.astimezone(UTC),
        actor=actor,
        event=event,
        clinic_id=clinic_id,
        patient_id=patient_id,
        checkin_id=checkin_id,
        escalation_id=escalation_id,
        detail=json.dumps(dict(detail or {}), sort_keys=True, default=str, ensure_ascii=False),
        prev_hash=last[1] if last else GENESIS,
        hash="",
    )
    row.hash = row_hash(row)
    session.add(row)
    await session.flush()
    return row
