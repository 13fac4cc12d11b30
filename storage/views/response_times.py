"""When each thing happened to a clinic's cases: opened, first page delivered, acknowledged,
first contact attempt, patient reached (one query, grouped subqueries)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Case, Outreach, Page, Patient
from storage.states import OutreachOutcome, PageStatus


@dataclass(frozen=True)
class CaseTimeRow:
    case_id: int
    patient_ref: str
    level: str
    opened_at: datetime
    first_paged_at: datetime | None
    acknowledged_at: datetime | None
    first_attempt_at: datetime | None
    reached_at: datetime | None


async def case_times(
    session: AsyncSession, *, clinic_id: str, since: datetime
) -> list[CaseTimeRow]:
    """Every case of the clinic opened at or after `since`, oldest first. The first page is
    the case's `first_paged_at`, else its earliest delivered page; reached is the earliest
    attempt whose outcome was "reached"."""
    paged = (
        select(col(Page.case_id).label("case_id"), func.min(col(Page.sent_at)).label("at"))
        .where(col(Page.status) == PageStatus.SENT)
        .group_by(col(Page.case_id))
        .subquery()
    )
    attempt = (
        select(col(Outreach.case_id).label("case_id"), func.min(col(Outreach.at)).label("at"))
        .group_by(col(Outreach.case_id))
        .subquery()
    )
    reached = (
        select(col(Outreach.case_id).label("case_id"), func.min(col(Outreach.at)).label("at"))
        .where(col(Outreach.outcome) == OutreachOutcome.REACHED)
        .group_by(col(Outreach.case_id))
        .subquery()
    )
    query = (
        select(
            col(Case.id),
            col(Patient.ref),
            col(Case.level),
            col(Case.opened_at),
            col(Case.first_paged_at),
            paged.c.at,
            col(Case.acknowledged_at),
            attempt.c.at,
            reached.c.at,
        )
        .join(Patient, col(Patient.id) == col(Case.patient_id))
        .outerjoin(paged, paged.c.case_id == col(Case.id))
        .outerjoin(attempt, attempt.c.case_id == col(Case.id))
        .outerjoin(reached, reached.c.case_id == col(Case.id))
        .where(col(Case.clinic_id) == clinic_id, col(Case.opened_at) >= since)
        .order_by(col(Case.opened_at), col(Case.id))
    )
    rows = (await session.execute(query)).all()
    return [
        CaseTimeRow(
            case_id=case_id,
            patient_ref=ref,
            level=str(level),
            opened_at=opened,
            first_paged_at=first or page_at,
            acknowledged_at=acked,
            first_attempt_at=tried,
            reached_at=got,
        )
        for case_id, ref, level, opened, first, page_at, acked, tried, got in rows
    ]
