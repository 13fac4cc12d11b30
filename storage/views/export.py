"""Queries behind the CSV export of a clinic's data: one query per file, streamed.

Each function yields plain tuples in id order, read through a server-side cursor (`yield_per`),
so a clinic of thousands of patients is written without holding every row in memory. The
check-ins' answers are pivoted by the database (one column per item), never one query per
check-in. Each takes `patient_ref` to keep one patient's rows (by the clinic's reference).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Answer, Case, Checkin, Infusion, Page, Patient
from storage.states import PageStatus

BATCH = 1_000

PATIENT_COLUMNS = (
    "patient_ref",
    "status",
    "enrolled_at",
    "consented_at",
    "opted_out_at",
    "timezone",
    "protocol",
    "baseline_mood",
)
PATIENT_FREE_TEXT = ("display_name", "emergency_contact")
INFUSION_COLUMNS = (
    "infusion_id",
    "patient_ref",
    "ended_at",
    "protocol",
    "status",
    "recorded_at",
    "recorded_by",
)
CHECKIN_COLUMNS = (
    "checkin_id",
    "patient_ref",
    "infusion_id",
    "kind",
    "day",
    "offset_seconds",
    "due_at",
    "sent_at",
    "answered_at",
    "status",
    "risk_level",
    "language",  # what the answers were shown in (issue 29); empty before languages were kept
    "cssrs_version",  # the C-SSRS version answered: with `language`, names the instrument file
)  # then one column per answer item, in the order the caller names them
CASE_COLUMNS = (
    "case_id",
    "patient_ref",
    "checkin_id",
    "opened_at",
    "level",
    "trigger",
    "status",
    "first_paged_at",
    "acknowledged_at",
    "acknowledged_by",
    "resolved_at",
    "resolved_by",
)
CASE_FREE_TEXT = ("reason", "quote", "resolution_note")


async def _stream(session: AsyncSession, query: Select[Any]) -> AsyncIterator[tuple[Any, ...]]:
    result = await session.stream(query.execution_options(yield_per=BATCH))
    async for row in result:
        yield tuple(row)


def one_patient(query: Select[Any], patient_ref: str | None) -> Select[Any]:
    """`query` (joined to Patient) kept to the patient `patient_ref`; all when None."""
    return query if patient_ref is None else query.where(col(Patient.ref) == patient_ref)


async def has_patient(session: AsyncSession, *, clinic_id: str, patient_ref: str) -> bool:
    """Whether the clinic has a patient with this reference."""
    found = await session.scalar(
        select(col(Patient.id)).where(
            col(Patient.clinic_id) == clinic_id, col(Patient.ref) == patient_ref
        )
    )
    return found is not None


def patients(
    session: AsyncSession, *, clinic_id: str, free_text: bool, patient_ref: str | None = None
) -> AsyncIterator[tuple[Any, ...]]:
    """Every patient of the clinic: `PATIENT_COLUMNS` (+ `PATIENT_FREE_TEXT`)."""
    columns: list[Any] = [
        col(Patient.ref),
        col(Patient.status),
        col(Patient.created_at),
        col(Patient.consented_at),
        col(Patient.opted_out_at),
        col(Patient.timezone),
        col(Patient.protocol),
        col(Patient.baseline_mood),
    ]
    if free_text:
        columns += [col(Patient.display_name), col(Patient.emergency_contact)]
    query = select(*columns).where(col(Patient.clinic_id) == clinic_id).order_by(col(Patient.id))
    return _stream(session, one_patient(query, patient_ref))


def infusions(
    session: AsyncSession,
    *,
    clinic_id: str,
    since: datetime | None,
    patient_ref: str | None = None,
) -> AsyncIterator[tuple[Any, ...]]:
    """The clinic's infusions that ended on or after `since`: `INFUSION_COLUMNS`."""
    query = (
        select(
            col(Infusion.id),
            col(Patient.ref),
            col(Infusion.ended_at),
            col(Infusion.protocol),
            col(Infusion.status),
            col(Infusion.recorded_at),
            col(Infusion.recorded_by),
        )
        .join(Patient, col(Patient.id) == col(Infusion.patient_id))
        .where(col(Patient.clinic_id) == clinic_id)
        .order_by(col(Infusion.id))
    )
    if since is not None:
        query = query.where(col(Infusion.ended_at) >= since)
    return _stream(session, one_patient(query, patient_ref))


def checkins(
    session: AsyncSession,
    *,
    clinic_id: str,
    since: datetime | None,
    items: Sequence[str],
    cssrs_id: str,
    patient_ref: str | None = None,
) -> AsyncIterator[tuple[Any, ...]]:
    """The clinic's check-ins due on or after `since`: `CHECKIN_COLUMNS`, then each of
    `items`' stored answer (None if not answered). `answered_at` is the last answer's time;
    `cssrs_version` the version of instrument `cssrs_id` its answers were given in."""
    answers = one_patient(
        select(
            col(Answer.checkin_id).label("checkin_id"),
            func.max(col(Answer.answered_at)).label("answered_at"),
            func.max(col(Answer.language)).label("language"),
            func.max(
                case((col(Answer.instrument_id) == cssrs_id, col(Answer.instrument_version)))
            ).label("cssrs_version"),
            *(
                func.max(case((col(Answer.item_id) == item, col(Answer.value)))).label(f"i{n}")
                for n, item in enumerate(items)
            ),
        )
        .join(Patient, col(Patient.id) == col(Answer.patient_id))
        .where(col(Patient.clinic_id) == clinic_id, col(Answer.checkin_id).is_not(None))
        .group_by(col(Answer.checkin_id)),
        patient_ref,
    ).subquery()
    query = (
        select(
            col(Checkin.id),
            col(Patient.ref),
            col(Checkin.infusion_id),
            col(Checkin.kind),
            col(Checkin.day),
            col(Checkin.offset_seconds),
            col(Checkin.due_at),
            col(Checkin.sent_at),
            answers.c.answered_at,
            col(Checkin.status),
            col(Checkin.risk_level),
            answers.c.language,
            answers.c.cssrs_version,
            *(answers.c[f"i{n}"] for n in range(len(items))),
        )
        .join(Patient, col(Patient.id) == col(Checkin.patient_id))
        .outerjoin(answers, answers.c.checkin_id == col(Checkin.id))
        .where(col(Patient.clinic_id) == clinic_id)
        .order_by(col(Checkin.id))
    )
    if since is not None:
        query = query.where(col(Checkin.due_at) >= since)
    return _stream(session, one_patient(query, patient_ref))


def cases(
    session: AsyncSession,
    *,
    clinic_id: str,
    since: datetime | None,
    free_text: bool,
    patient_ref: str | None = None,
) -> AsyncIterator[tuple[Any, ...]]:
    """The clinic's cases opened on or after `since`: `CASE_COLUMNS` (+ `CASE_FREE_TEXT`).
    `first_paged_at` is the first page that reached a clinician (a delivered page)."""
    pages = (
        select(
            col(Page.case_id).label("case_id"),
            func.min(col(Page.sent_at)).label("first_paged_at"),
        )
        .join(Case, col(Case.id) == col(Page.case_id))
        .where(col(Case.clinic_id) == clinic_id, col(Page.status) == PageStatus.SENT)
        .group_by(col(Page.case_id))
        .subquery()
    )
    columns: list[Any] = [
        col(Case.id),
        col(Patient.ref),
        col(Case.checkin_id),
        col(Case.opened_at),
        col(Case.level),
        col(Case.trigger),
        col(Case.status),
        pages.c.first_paged_at,
        col(Case.acknowledged_at),
        col(Case.acknowledged_by),
        col(Case.resolved_at),
        col(Case.resolved_by),
    ]
    if free_text:
        columns += [col(Case.reason), col(Case.quote), col(Case.resolution_note)]
    query = (
        select(*columns)
        .join(Patient, col(Patient.id) == col(Case.patient_id))
        .outerjoin(pages, pages.c.case_id == col(Case.id))
        .where(col(Case.clinic_id) == clinic_id, col(Patient.clinic_id) == clinic_id)
        .order_by(col(Case.id))
    )
    if since is not None:
        query = query.where(col(Case.opened_at) >= since)
    return _stream(session, one_patient(query, patient_ref))
