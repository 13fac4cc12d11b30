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
from storage.views.core_rows import core_rows

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


@dataclass(frozen=True)
class HistoryKeys:
    """Where each record of a patient's history sits on the timeline, without its content:
    (id, time) a row, in the order `patient_history` gives them; loose answers (typed words
    and late answers, in no check-in) also carry their item."""

    infusions: list[tuple[int, datetime]]
    checkins: list[tuple[int, datetime]]  # the time: sent_at, or due_at if never sent
    loose_answers: list[tuple[int, str, datetime]]
    cases: list[tuple[int, datetime]]


@dataclass(frozen=True)
class HistoryIds:
    """The records of one page of a timeline (`patient_history(only=…)`)."""

    infusions: list[int]
    checkins: list[int]  # with all their answers
    loose_answers: list[int]
    cases: list[int]  # with all their pages


_IN_INFUSIONS: BindParameter[list[int]] = bindparam("timeline_infusions", expanding=True)
_IN_CHECKINS: BindParameter[list[int]] = bindparam("timeline_checkins", expanding=True)
_IN_ANSWERS: BindParameter[list[int]] = bindparam("timeline_answers", expanding=True)
_IN_CASES: BindParameter[list[int]] = bindparam("timeline_cases", expanding=True)
_ONLY: dict[str, Select[Any]] = {
    "infusions": _INFUSIONS.where(col(Infusion.id).in_(_IN_INFUSIONS)),
    "checkins": _CHECKINS.where(col(Checkin.id).in_(_IN_CHECKINS)),
    "answers": _ANSWERS.where(
        or_(col(Answer.checkin_id).in_(_IN_CHECKINS), col(Answer.id).in_(_IN_ANSWERS))
    ),
    "cases": _CASES.where(col(Case.id).in_(_IN_CASES)),
    "pages": _PAGES.where(col(Case.id).in_(_IN_CASES)),
}
_KEYS: dict[str, Select[Any]] = {  # the same rows and order, only what places them
    "infusions": _INFUSIONS.with_only_columns(col(Infusion.id), col(Infusion.ended_at)),
    "checkins": _CHECKINS.with_only_columns(
        col(Checkin.id), func.coalesce(col(Checkin.sent_at), col(Checkin.due_at))
    ),
    "answers": _ANSWERS.with_only_columns(
        col(Answer.id), col(Answer.item_id), col(Answer.answered_at)
    ).where(col(Answer.checkin_id).is_(None)),
    "cases": select(col(Case.id), col(Case.opened_at))
    .where(col(Case.patient_id) == _PATIENT, col(Case.opened_at) >= _SINCE)
    .order_by(col(Case.opened_at), col(Case.id)),
}


def _params(patient_id: int, since: datetime | None, now: datetime | None = None) -> dict[str, Any]:
    return {"timeline_patient": patient_id, "timeline_since": since or _EVER, "timeline_now": now}


async def history_keys(
    session: AsyncSession, *, patient_id: int, since: datetime | None
) -> HistoryKeys:
    """Four narrow queries: no answer of a check-in, no text, nothing to open."""
    conn = await session.connection()
    params = _params(patient_id, since)
    rows = {name: (await conn.execute(q, params)).tuples().all() for name, q in _KEYS.items()}
    return HistoryKeys(
        infusions=[(i, at) for i, at in rows["infusions"]],
        checkins=[(i, at) for i, at in rows["checkins"]],  # coalesce() keeps the column type
        loose_answers=[(i, item, at) for i, item, at in rows["answers"]],
        cases=[(i, at) for i, at in rows["cases"]],
    )


async def patient_history(
    session: AsyncSession,
    *,
    patient_id: int,
    now: datetime,
    since: datetime | None,
    only: HistoryIds | None = None,
) -> PatientHistory:
    """Six queries, whatever the number of check-ins and cases; `only`: just those records
    (a check-in's answers and a case's pages with it)."""
    params = _params(patient_id, since, now)
    statements = {
        "infusions": _INFUSIONS,
        "checkins": _CHECKINS,
        "answers": _ANSWERS,
        "cases": _CASES,
        "pages": _PAGES,
    }
    if only is not None:
        statements = _ONLY
        params |= {
            "timeline_infusions": only.infusions,
            "timeline_checkins": only.checkins,
            "timeline_answers": only.loose_answers,
            "timeline_cases": only.cases,
        }
    conn = await session.connection()  # Core rows: read only, and faster than ORM rows

    async def rows(name: str) -> Any:
        return await core_rows(conn, statements[name], params)

    return PatientHistory(
        infusions=[InfusionRecord(*row) for row in await rows("infusions")],
        checkins=[CheckinRecord(*row) for row in await rows("checkins")],
        answers=[AnswerRecord(*row) for row in await rows("answers")],
        cases=[CaseRecord(*row) for row in await rows("cases")],
        pages=[PageRecord(*row) for row in await rows("pages")],
        next_planned=await conn.scalar(_NEXT_PLANNED, params),
    )
