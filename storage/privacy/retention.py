"""Retention's queries (issue 31): each patient's last activity and whether they are still in
care, in a few grouped queries per clinic (no query per patient); deleting a patient's
structured records; the nightly run's claim, once per clinic and day across every instance.

Last activity is the latest of: the patient's enrolment, consent and opt-out; any answer; any
check-in's send and close, and its due time unless it was cancelled, superseded or is still
planned; any infusion (its end and when it was recorded); any case opened, acknowledged or
resolved; a case's messages and outreach; a caring message sent; a safety plan saved or used;
an invite made. Audit rows are never deleted (they hold no free text; `patient_id` there has
no foreign key)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage import audit
from storage.cases import UNRESOLVED
from storage.models import (
    AckLink,
    Answer,
    AuditEvent,
    Case,
    CaseMessage,
    Checkin,
    Infusion,
    Invite,
    Outreach,
    Page,
    PageEvent,
    Patient,
    SafetyPlan,
    SafetyPlanEvent,
)
from storage.models.care import CaringMessage, CaringTrack
from storage.states import Actor, CaringStatus, CheckinStatus, PatientStatus

CLAIM_EVENT = "retention.started"
PLANNED_OR_OPEN = (CheckinStatus.SCHEDULED, CheckinStatus.SENT, CheckinStatus.IN_PROGRESS)
NOT_HAPPENED = (CheckinStatus.SCHEDULED, CheckinStatus.CANCELLED, CheckinStatus.SUPERSEDED)


@dataclass(frozen=True)
class PatientActivity:
    """One patient of a clinic as retention sees them (no words: the ref is pseudonymous)."""

    patient_id: int
    ref: str
    legal_hold: bool
    erased: bool
    last_activity: datetime
    in_care: bool
    has_records: bool


def _patients(clinic_id: str, only: Sequence[int] | None) -> Any:
    query = select(col(Patient.id)).where(col(Patient.clinic_id) == clinic_id)
    if only is not None:
        query = query.where(col(Patient.id).in_(set(only)))
    return query


# (table's patient column, the activity's time column, an extra condition or None)
def _sources() -> list[tuple[Any, Any, Any]]:
    return [
        (Answer.patient_id, Answer.answered_at, None),
        (Checkin.patient_id, Checkin.sent_at, None),
        (Checkin.patient_id, Checkin.closed_at, None),
        (Checkin.patient_id, Checkin.due_at, col(Checkin.status).not_in(NOT_HAPPENED)),
        (Infusion.patient_id, Infusion.ended_at, None),
        (Infusion.patient_id, Infusion.recorded_at, None),
        (Case.patient_id, Case.opened_at, None),
        (Case.patient_id, Case.acknowledged_at, None),
        (Case.patient_id, Case.resolved_at, None),
        (CaseMessage.patient_id, CaseMessage.at, None),
        (Outreach.patient_id, Outreach.at, None),
        (CaringMessage.patient_id, CaringMessage.sent_at, None),
        (SafetyPlan.patient_id, SafetyPlan.created_at, None),
        (SafetyPlanEvent.patient_id, SafetyPlanEvent.at, None),
        (Invite.patient_id, Invite.created_at, None),
    ]


def _record_tables() -> list[Any]:
    """Every table holding a patient's structured records (for `has_records`)."""
    return [
        Answer.patient_id,
        Checkin.patient_id,
        Infusion.patient_id,
        Case.patient_id,
        CaseMessage.patient_id,
        Outreach.patient_id,
        CaringTrack.patient_id,
        SafetyPlan.patient_id,
        SafetyPlanEvent.patient_id,
        Invite.patient_id,
    ]


async def _ids(session: AsyncSession, statement: Any) -> set[int]:
    return {pid for pid in await session.scalars(statement) if pid is not None}


async def _in_care(session: AsyncSession, patients: Any) -> set[int]:
    """Patients with a check-in planned or open, a case not resolved, a caring message to send."""
    checkins = select(col(Checkin.patient_id)).where(
        col(Checkin.patient_id).in_(patients), col(Checkin.status).in_(PLANNED_OR_OPEN)
    )
    cases = select(col(Case.patient_id)).where(
        col(Case.patient_id).in_(patients), col(Case.status).in_(UNRESOLVED)
    )
    caring = select(col(CaringMessage.patient_id)).where(
        col(CaringMessage.patient_id).in_(patients),
        col(CaringMessage.status) == CaringStatus.PENDING,
    )
    return await _ids(session, checkins.union(cases, caring))


async def activity_of_clinic(
    session: AsyncSession, *, clinic_id: str, only: Sequence[int] | None = None
) -> list[PatientActivity]:
    """Every patient of the clinic (or `only` these) with their last activity, oldest first."""
    patients = _patients(clinic_id, only).scalar_subquery()
    rows = (
        await session.execute(
            select(
                col(Patient.id),
                col(Patient.ref),
                col(Patient.legal_hold),
                col(Patient.status),
                col(Patient.created_at),
                col(Patient.consented_at),
                col(Patient.opted_out_at),
            ).where(col(Patient.id).in_(patients))
        )
    ).all()
    latest: dict[int, datetime] = {}
    for row in rows:
        latest[row[0]] = max(t for t in row[4:] if t is not None)
    for patient_col, at_col, condition in _sources():
        query = (
            select(patient_col, func.max(at_col))
            .where(col(patient_col).in_(patients), col(at_col).is_not(None))
            .group_by(patient_col)
        )
        if condition is not None:
            query = query.where(condition)
        for pid, at in (await session.execute(query)).all():
            if pid in latest and at is not None and at > latest[pid]:
                latest[pid] = at
    with_records = set[int]()
    for patient_col in _record_tables():
        with_records |= await _ids(
            session, select(patient_col).where(col(patient_col).in_(patients)).distinct()
        )
    caring = await _in_care(session, patients)
    found = [
        PatientActivity(
            patient_id=pid,
            ref=ref,
            legal_hold=bool(hold),
            erased=status == PatientStatus.ERASED,
            last_activity=latest[pid],
            in_care=pid in caring,
            has_records=pid in with_records,
        )
        for pid, ref, hold, status, *_ in rows
    ]
    return sorted(found, key=lambda p: (p.last_activity, p.ref))


async def _count(session: AsyncSession, statement: Any) -> int:
    return int((await session.execute(statement)).rowcount or 0)  # type: ignore[attr-defined]


async def delete_records(session: AsyncSession, *, patient_id: int) -> dict[str, int]:
    """Delete every structured record of the patient, children before parents; the patient row
    stays as a tombstone (reference, clinic, status erased, times) so that its id is never
    given to another patient, and audit rows keep naming the same person. How many of each."""
    cases = select(col(Case.id)).where(col(Case.patient_id) == patient_id).scalar_subquery()
    pid = patient_id
    steps: list[tuple[str, Any]] = [
        (
            "safety_plan_events",
            delete(SafetyPlanEvent).where(col(SafetyPlanEvent.patient_id) == pid),
        ),
        ("safety_plans", delete(SafetyPlan).where(col(SafetyPlan.patient_id) == pid)),
        ("caring_messages", delete(CaringMessage).where(col(CaringMessage.patient_id) == pid)),
        ("caring_tracks", delete(CaringTrack).where(col(CaringTrack.patient_id) == pid)),
        ("pages", delete(Page).where(col(Page.case_id).in_(cases))),
        ("ack_links", delete(AckLink).where(col(AckLink.case_id).in_(cases))),
        ("page_events", delete(PageEvent).where(col(PageEvent.case_id).in_(cases))),
        ("case_messages", delete(CaseMessage).where(col(CaseMessage.case_id).in_(cases))),
        ("outreach", delete(Outreach).where(col(Outreach.case_id).in_(cases))),
        ("answers", delete(Answer).where(col(Answer.patient_id) == pid)),
        ("cases", delete(Case).where(col(Case.patient_id) == pid)),
        ("checkins", delete(Checkin).where(col(Checkin.patient_id) == pid)),
        ("infusions", delete(Infusion).where(col(Infusion.patient_id) == pid)),
        ("invites", delete(Invite).where(col(Invite.patient_id) == pid)),
    ]
    counts = {}
    for name, statement in steps:
        counts[name] = await _count(session, statement.execution_options(synchronize_session=False))
    return counts


async def claim_run(
    session: AsyncSession,
    *,
    clinic_id: str,
    day: str,
    day_began: datetime,
    actor: Actor,
    now: datetime,
) -> bool:
    """Take the clinic's retention run for its local `day` (which began at `day_began`, UTC),
    once across every instance: the claim is an audit row, written under the chain's lock."""
    await audit.hold_chain(session)
    taken = await session.scalars(
        select(col(AuditEvent.id))
        .where(
            col(AuditEvent.event) == CLAIM_EVENT,
            col(AuditEvent.clinic_id) == clinic_id,
            col(AuditEvent.at) >= day_began,
        )
        .limit(1)
    )
    if taken.first() is not None:
        return False
    await audit.append(
        session, at=now, actor=actor, event=CLAIM_EVENT, clinic_id=clinic_id, detail={"day": day}
    )
    return True
