"""Reads behind the case queue and a case's card: Core rows of only the columns a card shows,
four queries however many cases (issue 32: loading every open case's rows through the ORM,
patients' sealed contact details too, was most of the queue's time). The rows are named
tuples: made, hashed and compared in C (the console keeps a drawn card under its rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import BindParameter, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from storage.cases import UNRESOLVED
from storage.models import Answer, Case, Checkin, Clinician, Infusion, Outreach, Page, Patient
from storage.states import (
    CaseStatus,
    CaseTrigger,
    CheckinKind,
    Level,
    OutreachMethod,
    OutreachOutcome,
    PageStatus,
)
from storage.views.core_rows import core_rows


class CaseRow(NamedTuple):
    """A case as its card reads it: every column but its clinic and the dispatcher's lease."""

    id: int
    patient_id: int
    checkin_id: int | None
    level: Level
    trigger: CaseTrigger
    reason: str
    quote: str | None
    status: CaseStatus
    opened_at: datetime
    ladder_started_at: datetime
    step: int
    next_step_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: int | None
    resolved_at: datetime | None
    resolved_by: int | None
    resolution_note: str | None
    first_paged_at: datetime | None
    outreach_due_at: datetime | None
    reached_at: datetime | None


class PatientRow(NamedTuple):
    """What a card shows of the patient."""

    id: int
    ref: str
    baseline_mood: int | None


class CheckinRow(NamedTuple):
    """What a card shows of the check-in behind its case."""

    id: int
    kind: CheckinKind
    due_at: datetime
    infusion_id: int | None


class InfusionRow(NamedTuple):
    id: int
    ended_at: datetime


class CardRow(NamedTuple):
    """One case with its patient, check-in, infusion and the names of who took and closed it."""

    case: CaseRow
    patient: PatientRow
    checkin: CheckinRow | None
    infusion: InfusionRow | None
    acknowledged_by: str | None  # the clinician's name, if still known
    resolved_by: str | None


class PageRow(NamedTuple):
    case_id: int
    clinician_id: int
    clinician: str | None  # None: no such clinician
    sent_at: datetime
    step: int
    status: PageStatus
    error: str | None


class OutreachRow(NamedTuple):
    case_id: int
    method: OutreachMethod
    outcome: OutreachOutcome
    at: datetime
    recorded_at: datetime
    clinician_id: int | None
    clinician: str | None
    note: str | None


@dataclass(frozen=True)
class CardRows:
    """The rows of some cases' cards: the cases in the order asked, the rest by case."""

    cards: list[CardRow]
    answers: dict[int, tuple[tuple[str, str], ...]]  # by check-in: (item, value), in order
    pages: dict[int, list[PageRow]]  # by case, oldest first
    outreach: dict[int, list[OutreachRow]]  # by case, in the order the attempts were made


_CLINIC: BindParameter[str] = bindparam("queue_clinic")
_CASE: BindParameter[int] = bindparam("queue_case")
_CASES: BindParameter[list[int]] = bindparam("queue_cases", expanding=True)
_CHECKINS: BindParameter[list[int]] = bindparam("queue_checkins", expanding=True)
_acked_by, _resolved_by = aliased(Clinician), aliased(Clinician)
_CASE_COLUMNS = [col(getattr(Case, name)) for name in CaseRow._fields]
# Built once (statement building was a tenth of the queue's own time; issue 32).
_CARDS: Select[Any] = (
    select(
        *_CASE_COLUMNS,
        col(Patient.id),
        col(Patient.ref),
        col(Patient.baseline_mood),
        col(Checkin.id),
        col(Checkin.kind),
        col(Checkin.due_at),
        col(Checkin.infusion_id),
        col(Infusion.id),
        col(Infusion.ended_at),
        col(_acked_by.name),
        col(_resolved_by.name),
    )
    .join(Patient, col(Patient.id) == col(Case.patient_id))
    .outerjoin(Checkin, col(Checkin.id) == col(Case.checkin_id))
    .outerjoin(Infusion, col(Infusion.id) == col(Checkin.infusion_id))
    .outerjoin(_acked_by, col(_acked_by.id) == col(Case.acknowledged_by))
    .outerjoin(_resolved_by, col(_resolved_by.id) == col(Case.resolved_by))
    .where(col(Case.clinic_id) == _CLINIC)
)
_UNRESOLVED_CARDS = _CARDS.where(col(Case.status).in_(UNRESOLVED)).order_by(col(Case.opened_at))
_ONE_CARD = _CARDS.where(col(Case.id) == _CASE)
_ANSWERS: Select[Any] = (
    select(col(Answer.checkin_id), col(Answer.item_id), col(Answer.value))
    .where(col(Answer.checkin_id).in_(_CHECKINS))
    .order_by(col(Answer.answered_at), col(Answer.id))
)
_PAGES: Select[Any] = (
    select(
        col(Page.case_id),
        col(Page.clinician_id),
        col(Clinician.name),
        col(Page.sent_at),
        col(Page.step),
        col(Page.status),
        col(Page.error),
    )
    .outerjoin(Clinician, col(Clinician.id) == col(Page.clinician_id))
    .where(col(Page.case_id).in_(_CASES))
    .order_by(col(Page.id))
)
_OUTREACH: Select[Any] = (
    select(
        col(Outreach.case_id),
        col(Outreach.method),
        col(Outreach.outcome),
        col(Outreach.at),
        col(Outreach.recorded_at),
        col(Outreach.clinician_id),
        col(Clinician.name),
        col(Outreach.note),
    )
    .outerjoin(Clinician, col(Clinician.id) == col(Outreach.clinician_id))
    .where(col(Outreach.case_id).in_(_CASES))
    .order_by(col(Outreach.at), col(Outreach.id))
)
_CASE_WIDTH = len(_CASE_COLUMNS)


async def unresolved_card_rows(session: AsyncSession, *, clinic_id: str) -> CardRows:
    """Every open and acknowledged case of this clinic, oldest first, with its card's rows."""
    return await _card_rows(session, _UNRESOLVED_CARDS, {"queue_clinic": clinic_id})


async def card_rows(session: AsyncSession, *, clinic_id: str, case_id: int) -> CardRows:
    """One case (resolved ones too) with its card's rows, only if it is this clinic's."""
    return await _card_rows(session, _ONE_CARD, {"queue_clinic": clinic_id, "queue_case": case_id})


async def _card_rows(session: AsyncSession, cards: Select[Any], params: dict[str, Any]) -> CardRows:
    conn = await session.connection()  # Core rows: read only, and faster than ORM rows
    found = [_card(row) for row in await core_rows(conn, cards, params)]
    if not found:
        return CardRows([], {}, {}, {})
    case_ids = sorted({c.case.id for c in found})
    checkin_ids = sorted({c.checkin.id for c in found if c.checkin is not None})
    answers: dict[int, dict[str, str]] = {i: {} for i in checkin_ids}
    if checkin_ids:
        for checkin_id, item, value in await core_rows(
            conn, _ANSWERS, {"queue_checkins": checkin_ids}
        ):
            answers[checkin_id][item] = value  # a later answer to an item replaces it
    pages: dict[int, list[PageRow]] = {i: [] for i in case_ids}
    for row in await core_rows(conn, _PAGES, {"queue_cases": case_ids}):
        pages[row[0]].append(PageRow(*row))
    outreach: dict[int, list[OutreachRow]] = {i: [] for i in case_ids}
    for row in await core_rows(conn, _OUTREACH, {"queue_cases": case_ids}):
        outreach[row[0]].append(OutreachRow(*row))
    given = {i: tuple(said.items()) for i, said in answers.items()}
    return CardRows(found, given, pages, outreach)


def _card(row: Any) -> CardRow:
    case = CaseRow(*row[:_CASE_WIDTH])
    patient_id, ref, baseline, checkin_id, kind, due_at, infusion_of, infusion_id, ended_at = row[
        _CASE_WIDTH : _CASE_WIDTH + 9
    ]
    acknowledged_by, resolved_by = row[_CASE_WIDTH + 9 :]
    checkin = None if checkin_id is None else CheckinRow(checkin_id, kind, due_at, infusion_of)
    infusion = None if infusion_id is None else InfusionRow(infusion_id, ended_at)
    return CardRow(
        case, PatientRow(patient_id, ref, baseline), checkin, infusion, acknowledged_by, resolved_by
    )
