"""A patient's monitoring state: stopped by the patient, or unreachable on Telegram (§6).

Every change of `Patient.status` after consent happens here; consent is `enrollment`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain.levels import Level
from bot.domain.triage import Finding
from bot.i18n import C_
from bot.services import checkin_states
from bot.services.cases import RaisedCase, raise_case
from bot.services.infusions import replan_patient
from bot.services.reaching import caring
from storage import audit
from storage.checkins import open_checkins
from storage.models import Patient
from storage.patients import get_patient, lock_patient
from storage.states import DISPATCHER, Actor, CaseTrigger, PatientStatus, patient_actor


@dataclass(frozen=True)
class PatientActions:
    """What the clinic may do with a patient's monitoring now: what the console offers."""

    joined: bool  # consented in Telegram (an invited patient has not)
    record_infusion: bool  # check-ins can be planned for them (refused once stopped)
    stop: bool  # an active patient; an unreachable one is offered `resume` instead
    resume: bool  # stopped by them or the clinic, or unreachable
    reissue_invite: bool  # not joined: a new invite replaces the old ones


def patient_actions(status: PatientStatus) -> PatientActions:
    status = PatientStatus(status)
    return PatientActions(
        joined=status is not PatientStatus.INVITED,
        record_infusion=not status.is_stopped,
        stop=status is PatientStatus.ACTIVE,
        resume=status.is_stopped and status is not PatientStatus.ERASED,
        reissue_invite=status is PatientStatus.INVITED,
    )


class AlreadyStopped(Exception):
    """The patient's check-ins were stopped already (a second "Yes, stop"): nothing changes."""


async def _locked(session: AsyncSession, patient: Patient) -> Patient:
    """The patient's row, locked until the transaction ends and read afresh: two changes of
    their monitoring racing (two taps, two instances, the console and Telegram) run one
    after the other, the second seeing what the first did."""
    assert patient.id is not None
    await lock_patient(session, patient_id=patient.id)
    row = await get_patient(session, patient_id=patient.id)
    assert row is not None
    return row


async def _locked_unless_stopped(session: AsyncSession, patient: Patient) -> Patient:
    """`_locked`, raising AlreadyStopped when the patient's check-ins are stopped already."""
    row = await _locked(session, patient)
    if row.status == PatientStatus.OPTED_OUT:
        raise AlreadyStopped
    return row


async def _stop(
    session: AsyncSession, row: Patient, *, clinic: ClinicConfig, now: datetime, actor: Actor
) -> int:
    """Stop a (locked) patient's check-ins: every unsent one cancelled, open ones closed; how
    many planned ones were cancelled."""
    assert row.id is not None
    row.status, row.opted_out_at = PatientStatus.OPTED_OUT, now
    cancelled = await checkin_states.cancel_unsent(session, patient_id=row.id, now=now)
    for checkin in await open_checkins(session, patient_id=row.id):
        await checkin_states.close_checkin(
            session, checkin=checkin, patient=row, clinic=clinic, now=now, actor=actor
        )
    return cancelled


async def opt_out(
    session: AsyncSession, *, patient: Patient, clinic: ClinicConfig, now: datetime
) -> RaisedCase | None:
    """Stop all check-ins for a patient who asked to, and tell the care team (CLINICAL.md §6).

    Once only: two taps racing on two instances stop, audit and page once (the patient row is
    locked); the second raises AlreadyStopped.
    """
    row = await _locked_unless_stopped(session, patient)
    cancelled = await _stop(session, row, clinic=clinic, now=now, actor=patient_actor(row.id))
    await audit.append(
        session,
        at=now,
        actor=patient_actor(patient.id),
        event="patient.opted_out",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        detail={"cancelled_checkins": cancelled},
    )
    level = clinic.non_response.opted_out
    return await raise_case(
        session,
        patient=row,
        level=level,
        trigger=CaseTrigger.NON_RESPONSE,
        now=now,
        findings=[Finding(level, "patient stopped their check-ins (/stop)")],
        repage=True,  # the patient is told the care team hears of it: an open case pages again
    )


async def mark_unreachable(
    session: AsyncSession,
    *,
    patient_id: int,
    clinic: ClinicConfig,
    now: datetime,
    error: str | None,
) -> RaisedCase | None:
    """Telegram says blocked or gone: stop sending to this patient and tell the team (§6)."""
    patient = await get_patient(session, patient_id=patient_id)
    assert patient is not None
    if patient.status == PatientStatus.UNREACHABLE:
        return None
    patient.status = PatientStatus.UNREACHABLE
    cancelled = await checkin_states.cancel_unsent(session, patient_id=patient_id, now=now)
    await caring.on_unreachable(session, patient_id=patient_id, now=now)
    await audit.append(
        session,
        at=now,
        actor=DISPATCHER,
        event="patient.unreachable",
        clinic_id=patient.clinic_id,
        patient_id=patient_id,
        detail={"error": error, "cancelled_checkins": cancelled},
    )
    level = clinic.non_response.unreachable
    reason = f"patient unreachable on Telegram ({error}); no more check-ins sent"
    return await raise_case(
        session,
        patient=patient,
        level=level,
        trigger=CaseTrigger.NON_RESPONSE,
        now=now,
        findings=[Finding(level, reason)],
    )


class ResumeError(Exception):
    """Monitoring cannot be resumed for this patient; safe to show the clinician."""


async def resume(
    session: AsyncSession,
    *,
    patient: Patient,
    clinic: ClinicConfig,
    now: datetime,
    actor: Actor,
    reason: str | None = None,
) -> int:
    """The clinic restarts a stopped or unreachable patient's check-ins; returns how many are
    planned again (those of their active infusions still ahead)."""
    row = await _locked(session, patient)
    if row.status == PatientStatus.ERASED:
        raise ResumeError(
            C_("{ref} was erased: nothing of theirs can be resumed.").format(ref=row.ref)
        )
    if not PatientStatus(row.status).is_stopped:
        raise ResumeError(
            C_("{ref}'s check-ins are not stopped ({status}).").format(
                ref=row.ref, status=row.status
            )
        )
    if row.chat_id is None:
        raise ResumeError(
            C_("{ref} has no linked chat; send them a new invite instead.").format(ref=row.ref)
        )
    was = row.status
    row.status, row.opted_out_at = PatientStatus.ACTIVE, None
    planned = await replan_patient(session, patient=row, clinic=clinic, now=now, actor=actor)
    assert row.id is not None
    await caring.on_resume(session, patient_id=row.id, now=now)  # future messages only
    detail: dict[str, object] = {"was": was, "planned_checkins": planned.added}
    if reason:  # a reason code from the console, never free text
        detail["reason"] = reason
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="patient.resumed",
        clinic_id=row.clinic_id,
        patient_id=row.id,
        detail=detail,
    )
    return planned.added


class StopRefused(Exception):
    """The clinic cannot stop this patient's check-ins (not joined yet); safe to show."""


async def stop_by_clinic(
    session: AsyncSession,
    *,
    patient: Patient,
    clinic: ClinicConfig,
    now: datetime,
    actor: Actor,
    reason: str,
) -> int:
    """The clinic stops a patient's check-ins, as their own /stop does (every unsent one
    cancelled, open ones closed), audited as the clinician's with a reason code; returns how
    many planned check-ins were cancelled. No case is raised: the care team did it."""
    row = await _locked_unless_stopped(session, patient)
    if row.status == PatientStatus.INVITED:
        raise StopRefused(f"{row.ref} has not joined yet, so nothing is sent to them.")
    was = row.status
    cancelled = await _stop(session, row, clinic=clinic, now=now, actor=actor)
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="patient.stopped_by_clinic",
        clinic_id=row.clinic_id,
        patient_id=row.id,
        detail={"was": was, "reason": reason, "cancelled_checkins": cancelled},
    )
    return cancelled


async def wrote_while_unreachable(
    session: AsyncSession, *, patient: Patient, clinic: ClinicConfig, now: datetime
) -> RaisedCase | None:
    """An unreachable patient writes again: the care team learns they can be resumed."""
    reason = (
        f"patient {patient.ref} wrote again after being unreachable; their check-ins stay "
        f"paused until the clinic resumes them (/resume {patient.ref})"
    )
    return await raise_case(
        session,
        patient=patient,
        level=Level.LOW,
        trigger=CaseTrigger.NON_RESPONSE,
        now=now,
        findings=[Finding(Level.LOW, reason)],
    )
