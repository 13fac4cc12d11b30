"""Queries behind the FHIR export of a clinic's data (bot/fhir builds the resources).

Every query is filtered by the clinic (a patient's, a case's own clinic) and optionally by one
patient's reference; answers come through a server-side cursor (`yield_per`) in check-in
order, so a clinic of thousands of check-ins is read without holding every row at once.
Free text is never read here: no names unless asked, no notes, no quotes, no reasons.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Answer, Case, Checkin, Outreach, Patient
from storage.states import CheckinStatus

BATCH = 1_000
# Check-ins still open (their answers may change): left out until they close.
OPEN_CHECKINS = (CheckinStatus.SCHEDULED, CheckinStatus.SENT, CheckinStatus.IN_PROGRESS)


@dataclass(frozen=True)
class Scope:
    """What an export covers: a clinic, optionally one patient (by reference), optionally
    only check-ins due and cases opened on or after `since`."""

    clinic_id: str
    patient_ref: str | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class PatientRow:
    id: int
    ref: str
    display_name: str | None  # None unless the caller asked for names
    language: str | None
    created_at: datetime
    status: str


@dataclass(frozen=True)
class AnswerRow:
    checkin_id: int
    patient_id: int
    checkin_status: str
    item_id: str
    value: str
    instrument_id: str
    instrument_version: str
    language: str | None
    answered_at: datetime


@dataclass(frozen=True)
class CaseRow:
    id: int
    patient_id: int
    checkin_id: int | None
    opened_at: datetime
    level: str
    status: str
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    reached_at: datetime | None


@dataclass(frozen=True)
class OutreachRow:
    case_id: int
    method: str
    outcome: str
    at: datetime


async def patients(
    session: AsyncSession, *, clinic_id: str, patient_ref: str | None, names: bool
) -> list[PatientRow]:
    """The clinic's patients (one when `patient_ref`), in id order."""
    query = (
        select(
            col(Patient.id),
            col(Patient.ref),
            col(Patient.display_name),
            col(Patient.language),
            col(Patient.created_at),
            col(Patient.status),
        )
        .where(col(Patient.clinic_id) == clinic_id)
        .order_by(col(Patient.id))
    )
    if patient_ref is not None:
        query = query.where(col(Patient.ref) == patient_ref)
    rows = (await session.execute(query)).all()
    return [
        PatientRow(
            id=row[0],
            ref=row[1],
            display_name=row[2] if names else None,
            language=row[3],
            created_at=row[4],
            status=str(row[5]),
        )
        for row in rows
    ]


async def answers(
    session: AsyncSession, scope: Scope, *, items: tuple[str, ...]
) -> AsyncIterator[AnswerRow]:
    """The answers to `items` of the clinic's closed check-ins (due on or after `since`), in
    check-in order, then in the order they were given."""
    query: Select[Any] = (
        select(
            col(Answer.checkin_id),
            col(Answer.patient_id),
            col(Checkin.status),
            col(Answer.item_id),
            col(Answer.value),
            col(Answer.instrument_id),
            col(Answer.instrument_version),
            col(Answer.language),
            col(Answer.answered_at),
        )
        .join(Checkin, col(Checkin.id) == col(Answer.checkin_id))
        .join(Patient, col(Patient.id) == col(Answer.patient_id))
        .where(
            col(Patient.clinic_id) == scope.clinic_id,
            col(Checkin.patient_id) == col(Answer.patient_id),
            col(Checkin.status).not_in(OPEN_CHECKINS),
            col(Answer.item_id).in_(items),
        )
        .order_by(col(Answer.checkin_id), col(Answer.answered_at), col(Answer.id))
    )
    if scope.patient_ref is not None:
        query = query.where(col(Patient.ref) == scope.patient_ref)
    if scope.since is not None:
        query = query.where(col(Checkin.due_at) >= scope.since)
    result = await session.stream(query.execution_options(yield_per=BATCH))
    async for row in result:
        yield AnswerRow(
            checkin_id=row[0],
            patient_id=row[1],
            checkin_status=str(row[2]),
            item_id=row[3],
            value=row[4],
            instrument_id=row[5],
            instrument_version=row[6],
            language=row[7],
            answered_at=row[8],
        )


def _case_filter(query: Select[Any], scope: Scope) -> Select[Any]:
    query = query.join(Patient, col(Patient.id) == col(Case.patient_id)).where(
        col(Case.clinic_id) == scope.clinic_id, col(Patient.clinic_id) == scope.clinic_id
    )
    if scope.patient_ref is not None:
        query = query.where(col(Patient.ref) == scope.patient_ref)
    if scope.since is not None:
        query = query.where(col(Case.opened_at) >= scope.since)
    return query


async def cases(session: AsyncSession, scope: Scope) -> list[CaseRow]:
    """The clinic's cases opened on or after `since`, in id order."""
    query = _case_filter(
        select(
            col(Case.id),
            col(Case.patient_id),
            col(Case.checkin_id),
            col(Case.opened_at),
            col(Case.level),
            col(Case.status),
            col(Case.acknowledged_at),
            col(Case.resolved_at),
            col(Case.reached_at),
        ),
        scope,
    ).order_by(col(Case.id))
    rows = (await session.execute(query)).all()
    return [
        CaseRow(
            id=row[0],
            patient_id=row[1],
            checkin_id=row[2],
            opened_at=row[3],
            level=str(row[4]),
            status=str(row[5]),
            acknowledged_at=row[6],
            resolved_at=row[7],
            reached_at=row[8],
        )
        for row in rows
    ]


async def outreach(session: AsyncSession, scope: Scope) -> list[OutreachRow]:
    """The outreach attempts on those cases (method and outcome, never the note), in order."""
    query = _case_filter(
        select(
            col(Outreach.case_id), col(Outreach.method), col(Outreach.outcome), col(Outreach.at)
        ).join(Case, col(Case.id) == col(Outreach.case_id)),
        scope,
    ).order_by(col(Outreach.case_id), col(Outreach.at), col(Outreach.id))
    rows = (await session.execute(query)).all()
    return [
        OutreachRow(case_id=row[0], method=str(row[1]), outcome=str(row[2]), at=row[3])
        for row in rows
    ]
