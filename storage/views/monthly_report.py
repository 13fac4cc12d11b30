"""Read-only queries behind the monthly report (bot/services/reaching/monthly_report.py): plain
rows of one clinic, chosen by the month's UTC boundaries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.domain.reports.monthly import CaseRow, CheckinRow
from bot.domain.reports.mood_series import InfusionRow, MoodRow
from storage.models import (
    Answer,
    AuditEvent,
    Case,
    Checkin,
    Infusion,
    Page,
    Patient,
    SafetyPlan,
)
from storage.states import InfusionStatus

MOOD_ITEM = "mood"
OVERDUE = "outreach.overdue"


async def checkin_rows(
    session: AsyncSession, *, clinic_id: str, start: datetime, end: datetime
) -> list[CheckinRow]:
    """The clinic's check-ins sent, due or reminded in [start, end)."""

    rows = await session.execute(
        select(
            col(Checkin.kind),
            col(Checkin.offset_seconds),
            col(Checkin.status),
            col(Checkin.due_at),
            col(Checkin.sent_at),
            col(Checkin.reminded_at),
        )
        .join(Patient, col(Patient.id) == col(Checkin.patient_id))
        .where(
            col(Patient.clinic_id) == clinic_id,
            or_(
                and_(col(Checkin.sent_at) >= start, col(Checkin.sent_at) < end),
                and_(col(Checkin.due_at) >= start, col(Checkin.due_at) < end),
                and_(col(Checkin.reminded_at) >= start, col(Checkin.reminded_at) < end),
            ),
        )
        .order_by(col(Checkin.id))
    )
    return [
        CheckinRow(str(kind), offset, str(status), due, sent, reminded)
        for kind, offset, status, due, sent, reminded in rows.tuples()
    ]


async def case_rows(
    session: AsyncSession, *, clinic_id: str, start: datetime, end: datetime
) -> list[CaseRow]:
    """The clinic's cases opened in [start, end), with whether any page of theirs belongs to a
    rung after the first and whether the audit log records them re-opened for overdue
    outreach (at any time)."""
    later = select(col(Page.case_id)).where(col(Page.step) >= 1)
    overdue = select(col(AuditEvent.case_id)).where(
        col(AuditEvent.event) == OVERDUE, col(AuditEvent.clinic_id) == clinic_id
    )
    rows = await session.execute(
        select(
            col(Case.id),
            col(Case.patient_id),
            col(Patient.ref),
            col(Case.level),
            col(Case.opened_at),
            col(Case.id).in_(later),
            col(Case.id).in_(overdue),
        )
        .join(Patient, col(Patient.id) == col(Case.patient_id))
        .where(
            col(Case.clinic_id) == clinic_id,
            col(Case.opened_at) >= start,
            col(Case.opened_at) < end,
        )
        .order_by(col(Case.opened_at), col(Case.id))
    )
    return [
        CaseRow(case_id or 0, patient_id, ref, str(level), opened, bool(up), bool(late))
        for case_id, patient_id, ref, level, opened, up, late in rows.tuples()
    ]


async def infusion_rows(
    session: AsyncSession, *, clinic_id: str, start: datetime, end: datetime
) -> list[InfusionRow]:
    """The clinic's infusions (not cancelled) that ended in [start, end)."""
    rows = await session.execute(
        select(col(Infusion.patient_id), col(Patient.ref), col(Infusion.ended_at))
        .join(Patient, col(Patient.id) == col(Infusion.patient_id))
        .where(
            col(Patient.clinic_id) == clinic_id,
            col(Infusion.status) == InfusionStatus.ACTIVE,
            col(Infusion.ended_at) >= start,
            col(Infusion.ended_at) < end,
        )
        .order_by(col(Infusion.ended_at), col(Infusion.id))
    )
    return [InfusionRow(pid, ref, ended) for pid, ref, ended in rows.tuples()]


async def mood_rows(
    session: AsyncSession, *, patient_ids: set[int], until: datetime
) -> list[MoodRow]:
    """These patients' mood answers (a whole number) given before `until`, oldest first."""
    if not patient_ids:
        return []
    rows = await session.execute(
        select(col(Answer.patient_id), col(Answer.answered_at), col(Answer.value))
        .where(
            col(Answer.patient_id).in_(patient_ids),
            col(Answer.item_id) == MOOD_ITEM,
            col(Answer.answered_at) < until,
        )
        .order_by(col(Answer.answered_at), col(Answer.id))
    )
    return [
        MoodRow(pid, at, int(value)) for pid, at, value in rows.tuples() if value.strip().isdigit()
    ]


async def baselines(session: AsyncSession, *, patient_ids: set[int]) -> dict[int, int | None]:
    """Each patient's baseline mood (None: not recorded)."""
    if not patient_ids:
        return {}
    rows = await session.execute(
        select(col(Patient.id), col(Patient.baseline_mood)).where(col(Patient.id).in_(patient_ids))
    )
    return {pid: mood for pid, mood in rows.tuples() if pid is not None}


async def newest_plans(
    session: AsyncSession, *, clinic_id: str, patient_ids: set[int], before: datetime
) -> dict[int, str]:
    """Each patient's newest safety plan saved before `before`: patient id → its stored steps
    (absent: no plan then)."""
    if not patient_ids:
        return {}
    newest = (
        select(col(SafetyPlan.patient_id), func.max(SafetyPlan.version).label("version"))
        .where(
            col(SafetyPlan.clinic_id) == clinic_id,
            col(SafetyPlan.patient_id).in_(patient_ids),
            col(SafetyPlan.created_at) < before,
        )
        .group_by(col(SafetyPlan.patient_id))
        .subquery()
    )
    rows = await session.execute(
        select(col(SafetyPlan.patient_id), col(SafetyPlan.steps)).join(
            newest,
            (newest.c.patient_id == col(SafetyPlan.patient_id))
            & (newest.c.version == col(SafetyPlan.version)),
        )
    )
    return dict(rows.tuples().all())
