"""Queries behind the console's patient timeline: a fixed handful per patient, never one per
check-in or case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from storage.models import Answer, Case, Checkin, Clinician, Infusion, Page
from storage.states import (
    CaseStatus,
    CaseTrigger,
    CheckinKind,
    CheckinStatus,
    InfusionStatus,
    Level,
    PageStatus,
)
from storage.types import UTCDateTime

# Planned, or plans that were dropped: never sent, nothing happened with the patient.
NOT_HAPPENED = (CheckinStatus.SCHEDULED, CheckinStatus.CANCELLED, CheckinStatus.SUPERSEDED)


@dataclass(frozen=True)
class InfusionRecord:
    id: int
    ended_at: datetime
    protocol: str
    status: InfusionStatus


@dataclass(frozen=True)
class CheckinRecord:
    id: int
    infusion_id: int | None
    kind: CheckinKind
    offset_seconds: int | None
    day: int | None
    due_at: datetime
    sent_at: datetime | None
    closed_at: datetime | None
    status: CheckinStatus
    risk_level: Level
    crisis_card_at: datetime | None


@dataclass(frozen=True)
class AnswerRecord:
    id: int
    checkin_id: int | None
    item_id: str
    value: str
    answered_at: datetime


@dataclass(frozen=True)
class CaseRecord:
    id: int
    checkin_id: int | None
    opened_at: datetime
    level: Level
    trigger: CaseTrigger
    reason: str
    quote: str | None
    status: CaseStatus
    acknowledged_at: datetime | None
    acknowledged_by: str | None  # the clinician's name
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None


@dataclass(frozen=True)
class PageRecord:
    id: int
    case_id: int
    clinician: str
    step: int
    status: PageStatus
    sent_at: datetime


@dataclass(frozen=True)
class PatientHistory:
    """One patient's records since a time (everything when None), oldest first."""

    infusions: list[InfusionRecord]
    checkins: list[CheckinRecord]  # sent, missed or failed; not planned or dropped ones
    answers: list[AnswerRecord]  # in check-ins, typed messages and late answers alike
    cases: list[CaseRecord]
    pages: list[PageRecord]
    next_planned: datetime | None  # earliest scheduled check-in due after now


_PATIENT: BindParameter[int] = bindparam("timeline_patient")
_SINCE: BindParameter[datetime] = bindparam("timeline_since", type_=UTCDateTime())
_NOW: BindParameter[datetime] = bindparam("timeline_now", type_=UTCDateTime())
_EVER = datetime(1970, 1, 1, tzinfo=UTC)  # `since` when the whole history is asked for

_INFUSIONS: Select[Any] = (
    select(col(Infusion.id), col(Infusion.ended_at), col(Infusion.protocol), col(Infusion.status))
    .where(col(Infusion.patient_id) == _PATIENT, col(Infusion.ended_at) >= _SINCE)
    .order_by(col(Infusion.ended_at), col(Infusion.id))
)

_CHECKINS: Select[Any] = (
    select(
        col(Checkin.id),
        col(Checkin.infusion_id),
        col(Checkin.kind),
        col(Checkin.offset_seconds),
        col(Checkin.day),
        col(Checkin.due_at),
        col(Checkin.sent_at),
        col(Checkin.closed_at),
        col(Checkin.status),
        col(Checkin.risk_level),
        col(Checkin.crisis_card_at),
    )
    .where(
        col(Checkin.patient_id) == _PATIENT,
        col(Checkin.status).not_in(NOT_HAPPENED),
        # A check-in's time is when it was sent, or when it was due if it never was.
        or_(
            col(Checkin.sent_at) >= _SINCE,
            col(Checkin.sent_at).is_(None) & (col(Checkin.due_at) >= _SINCE),
        ),
    )
    .order_by(col(Checkin.due_at), col(Checkin.id))
)

_ANSWERS: Select[Any] = (
    select(
        col(Answer.id),
        col(Answer.checkin_id),
        col(Answer.item_id),
        col(Answer.value),
        col(Answer.answered_at),
    )
    .where(col(Answer.patient_id) == _PATIENT, col(Answer.answered_at) >= _SINCE)
    .order_by(col(Answer.answered_at), col(Answer.id))
)

_acked_by, _resolved_by = aliased(Clinician), aliased(Clinician)
_CASES: Select[Any] = (
    select(
        col(Case.id),
        col(Case.checkin_id),
        col(Case.opened_at),
        col(Case.level),
        col(Case.trigger),
        col(Case.reason),
        col(Case.quote),
        col(Case.status),
        col(Case.acknowledged_at),
        col(_acked_by.name),
        col(Case.resolved_at),
        col(_resolved_by.name),
        col(Case.resolution_note),
    )
    .outerjoin(_acked_by, col(_acked_by.id) == col(Case.acknowledged_by))
    .outerjoin(_resolved_by, col(_resolved_by.id) == col(Case.resolved_by))
    .where(col(Case.patient_id) == _PATIENT, col(Case.opened_at) >= _SINCE)
    .order_by(col(Case.opened_at), col(Case.id))
)

_PAGES: Select[Any] = (
    select(
        col(Page.id),
        col(Page.case_id),
        col(Clinician.name),
        col(Page.step),
        col(Page.status),
        col(Page.sent_at),
    )
    .join(Case, col(Case.id) == col(Page.case_id))
    .join(Clinician, col(Clinician.id) == col(Page.clinician_id))
    .where(col(Case.patient_id) == _PATIENT, col(Case.opened_at) >= _SINCE)
    .order_by(col(Page.sent_at), col(Page.id))
)

_NEXT_PLANNED: Select[Any] = select(func.min(col(Checkin.due_at))).where(
    col(Checkin.patient_id) == _PATIENT,
    col(Checkin.status) == CheckinStatus.SCHEDULED,
    col(Checkin.due_at) > _NOW,
)


async def patient_history(
    session: AsyncSession, *, patient_id: int, now: datetime, since: datetime | None
) -> PatientHistory:
    """Six queries, whatever the number of check-ins and cases."""
    params = {"timeline_patient": patient_id, "timeline_since": since or _EVER, "timeline_now": now}
    conn = await session.connection()  # Core rows: read only, and faster than ORM rows

    async def rows(statement: Select[Any]) -> Any:
        # Fetched inside SQLAlchemy's greenlet: a sealed cell whose key another instance made
        # is opened there (storage/crypto/sealed), not in the event loop.
        return await conn.run_sync(lambda sync: sync.execute(statement, params).tuples().all())

    return PatientHistory(
        infusions=[InfusionRecord(*row) for row in await rows(_INFUSIONS)],
        checkins=[CheckinRecord(*row) for row in await rows(_CHECKINS)],
        answers=[AnswerRecord(*row) for row in await rows(_ANSWERS)],
        cases=[CaseRecord(*row) for row in await rows(_CASES)],
        pages=[PageRecord(*row) for row in await rows(_PAGES)],
        next_planned=await conn.scalar(_NEXT_PLANNED, params),
    )
