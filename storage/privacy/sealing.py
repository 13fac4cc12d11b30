"""Sealing what an existing database holds in plain text (issue 31; `aftercare keys encrypt`):
each sealed column, in batches of `batch` rows, one transaction a batch, so an interrupted run
loses nothing and the next one carries on where it stopped (a sealed value starts `ac1:` and is
not picked again). An erased patient's rows are skipped: their key is shredded, and what they
hold is empty already."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Text, inspect, literal, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.crypto.envelope import PREFIX
from storage.crypto.keyring import INBOX_OWNER
from storage.crypto.sealed import owned
from storage.models import (
    Answer,
    Case,
    CaseMessage,
    InboundUpdate,
    Outreach,
    Patient,
    SafetyPlan,
    SafetyPlanEvent,
)
from storage.models.core import FREE_TEXT_ITEMS
from storage.states import PatientStatus


@dataclass(frozen=True)
class Target:
    """One sealed column: its rows, whose they are, and which of them hold words."""

    name: str  # "answer.value"
    model: type[Any]
    column: str
    owner: Callable[[], Any]
    only: Callable[[], ColumnElement[bool]] | None = None


def _patient_column(model: type[Any]) -> Callable[[], Any]:
    return lambda: col(model.patient_id)


_CONTACTS = (
    "phone",
    "phone_e164",
    "emergency_name",
    "emergency_relation",
    "emergency_phone",
    "emergency_phone_e164",
    "emergency_contact",
    "display_name",
)
TARGETS: tuple[Target, ...] = (
    *(Target(f"patient.{c}", Patient, c, lambda: col(Patient.id)) for c in _CONTACTS),
    Target(
        "answer.value",
        Answer,
        "value",
        _patient_column(Answer),
        lambda: col(Answer.item_id).in_(FREE_TEXT_ITEMS),
    ),
    Target("case.quote", Case, "quote", _patient_column(Case)),
    Target("case.resolution_note", Case, "resolution_note", _patient_column(Case)),
    Target("case_message.text", CaseMessage, "text", _patient_column(CaseMessage)),
    Target("outreach.note", Outreach, "note", _patient_column(Outreach)),
    Target("safety_plan.steps", SafetyPlan, "steps", _patient_column(SafetyPlan)),
    Target("safety_plan_event.detail", SafetyPlanEvent, "detail", _patient_column(SafetyPlanEvent)),
    Target("inbound_update.payload", InboundUpdate, "payload", lambda: literal(INBOX_OWNER)),
)


async def seal_batch(session: AsyncSession, target: Target, *, batch: int) -> int:
    """Seal up to `batch` plain values of `target`; how many were sealed."""
    column = getattr(target.model, target.column)
    raw = type_coerce(column, Text)  # compared as stored, not through the sealing type
    key = inspect(target.model).primary_key[0]
    owner = target.owner()
    query = (
        select(key, owner, column)
        .where(raw.is_not(None), raw != "", ~raw.startswith(PREFIX, autoescape=True))
        .order_by(key)
        .limit(batch)
    )
    if target.only is not None:
        query = query.where(target.only())
    if target.model is not InboundUpdate:
        erased = select(col(Patient.id)).where(col(Patient.status) == PatientStatus.ERASED)
        query = query.where(owner.not_in(erased))
    rows = (await session.execute(query)).all()
    for row_id, row_owner, value in rows:
        await session.execute(
            update(target.model)
            .where(key == row_id)
            .values({target.column: owned(int(row_owner), value)})
        )
    return len(rows)
