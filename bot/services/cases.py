"""Escalations: opened in the same transaction as the answer that triggers them (no Telegram)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain.escalation import BusinessHours, Step, next_step_time
from bot.domain.levels import Level, highest
from bot.domain.triage import Finding
from storage import audit
from storage.cases import (
    add_case,
    current_for_patient,
    get_case,
    has_unresolved_case,
    reserve_for_fast_path,
)
from storage.models import Case, Patient
from storage.patients import lock_patient
from storage.states import (
    DISPATCHER,
    PAGER,
    SERVICE,
    TRIAGE,
    CaseStatus,
    CaseTrigger,
)

log = logging.getLogger(__name__)


def ladder(clinic: ClinicConfig, level: Level) -> list[Step]:
    """The clinic's ladder for a level, as domain steps."""
    steps = getattr(clinic.escalation, level.value, clinic.escalation.low)
    return [Step(after=s.after, notify=tuple(s.notify), channels=tuple(s.channels)) for s in steps]


def business_hours(clinic: ClinicConfig) -> BusinessHours:
    hours = clinic.escalation.business_hours
    return BusinessHours(start=hours.start, days=tuple(hours.days))


# How long a case a patient's message raised waits for its own instance to page it
# (`raise_case(fast_path=True)`) before any dispatcher tick may.
FAST_PATH_GRACE = timedelta(seconds=10)


@dataclass(frozen=True)
class RaisedCase:
    """What raising a finding did: the case, and whether someone must be paged now."""

    case: Case
    page_now: bool


def note_delay(raised: RaisedCase | None, *, written_at: datetime | None, now: datetime) -> bool:
    """A case raised by words that reached us delayed (`written_at` given) says when the
    patient wrote them and that an outage held them back.

    Call it in the transaction that raised the case, so the first page already says it.
    True when a note was added.
    """
    if raised is None or written_at is None:
        return False
    raised.case.reason = (
        f"{raised.case.reason}\n[{now:%Y-%m-%d %H:%M} UTC] Delayed by a service outage: the "
        f"patient sent the above at [{written_at:%Y-%m-%d %H:%M} UTC] and it reached Aftercare "
        f"{_waited(now - written_at)} later."
    )
    return True


def _waited(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


async def raise_case(
    session: AsyncSession,
    *,
    patient: Patient,
    level: Level,
    findings: Sequence[Finding],
    trigger: CaseTrigger,
    now: datetime,
    checkin_id: int | None = None,
    quote: str | None = None,
    fast_path: bool = False,
    repage: bool = False,
) -> RaisedCase | None:
    """Open the patient's escalation, or add to the open one; a higher level pages again.

    One unresolved escalation per patient episode (CLINICAL.md §8); its level never falls.
    `fast_path`: the caller pages a case that must page now itself, right after the commit
    (`Dispatcher.page_now`), so the case is reserved for it and ticks leave it alone for
    FAST_PATH_GRACE; if that instance dies first, a tick pages it once the reservation ends.
    `repage`: an open case is paged again from its first rung with this finding.
    """
    if level is Level.NONE:
        return None
    assert patient.id is not None
    stamp = f"[{now:%Y-%m-%d %H:%M} UTC] "
    lines = "\n".join(stamp + f.reason for f in findings if f.level is not Level.NONE)
    await lock_patient(session, patient_id=patient.id)  # one episode, even with two writers
    current = await current_for_patient(session, patient_id=patient.id)
    if current is None:
        opened = await _open_case(
            session,
            patient=patient,
            level=level,
            findings=findings,
            trigger=trigger,
            lines=lines,
            now=now,
            checkin_id=checkin_id,
            quote=quote,
            fast_path=fast_path,
        )
        return RaisedCase(opened, page_now=True)
    if lines and lines not in current.reason:
        current.reason = f"{current.reason}\n{lines}".strip()
    if quote:
        current.quote = f"{current.quote}\n---\n{quote}" if current.quote else quote
    raised = level.rank > Level(current.level).rank
    # Something new and concerning after a clinician took the case: it is theirs to hear now,
    # so the case re-opens and pages again rather than waiting silently in its reason text.
    taken = current.status == CaseStatus.ACKNOWLEDGED
    reopened = bool(lines) and taken and (level.rank >= Level.MODERATE.rank or repage)
    # News a clinician must hear now (the patient stopped) on a case still walking its ladder:
    # the rung that paged last pages again at once (`step` names the rung still to come); the
    # ladder keeps how far it has gone and its next rung's time.
    repaged = bool(lines) and repage and not taken and not raised
    if raised or reopened:
        level = highest(level, Level(current.level))
        current.level, current.status, current.step = level, CaseStatus.OPEN, 0
        current.ladder_started_at = current.next_step_at = now
        # a new concern: the outreach clock starts again at its next page (reaching/outreach)
        current.acknowledged_at = current.acknowledged_by = current.outreach_due_at = None
        current.trigger, current.checkin_id = trigger, checkin_id or current.checkin_id
    elif repaged:
        current.step = max(current.step - 1, 0)
        current.next_step_at = now
    event = "raised" if raised else "reopened" if reopened else "repaged" if repaged else "appended"
    await audit.append(
        session,
        at=now,
        actor=TRIAGE,
        event=f"escalation.{event}",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        checkin_id=checkin_id,
        case_id=current.id,
        detail={"level": level, "trigger": trigger, "findings": [f.reason for f in findings]},
    )
    if fast_path and (raised or reopened):
        reserve_for_fast_path(current, now=now, until=now + FAST_PATH_GRACE)
    return RaisedCase(current, page_now=raised or reopened or repaged)


async def _open_case(
    session: AsyncSession,
    *,
    patient: Patient,
    level: Level,
    findings: Sequence[Finding],
    trigger: CaseTrigger,
    lines: str,
    now: datetime,
    checkin_id: int | None,
    quote: str | None,
    fast_path: bool,
) -> Case:
    """A new case for the patient's episode, its ladder starting now."""
    assert patient.id is not None
    case = Case(
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        checkin_id=checkin_id,
        level=level,
        trigger=trigger,
        reason=lines,
        quote=quote,
        opened_at=now,
        ladder_started_at=now,
        step=0,
        next_step_at=now,
    )
    if fast_path:
        reserve_for_fast_path(case, now=now, until=now + FAST_PATH_GRACE)
    current = await add_case(session, case=case)
    await audit.append(
        session,
        at=now,
        actor=TRIAGE,
        event="escalation.opened",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        checkin_id=checkin_id,
        case_id=current.id,
        detail={"level": level, "trigger": trigger, "findings": [f.reason for f in findings]},
    )
    return current


@dataclass(frozen=True)
class LadderPosition:
    """Where a case stood on its ladder when a rung was planned."""

    step: int
    level: Level
    ladder_started_at: datetime

    @classmethod
    def of(cls, case: Case) -> LadderPosition:
        return cls(case.step, Level(case.level), case.ladder_started_at)


async def advance_ladder(
    session: AsyncSession,
    *,
    case: Case,
    planned: LadderPosition,
    owner: str,
    clinic: ClinicConfig,
    delivered: bool,
    reached_nobody: bool,
    recipients: int,
    now: datetime,
) -> None:
    """After a rung's pages: hand back the claim and plan the next rung (CLINICAL.md §8).

    Only if the case still stands where the rung was planned: raised, acknowledged or taken
    over while the pages were out, it is left to its new state (a raised level fires its own
    first rung). A rung that reached nobody at all is retried each minute, loudly.
    """
    mine = case.lease_owner == owner
    if mine:
        case.lease_owner = case.lease_until = None
    if not mine or case.status != CaseStatus.OPEN or LadderPosition.of(case) != planned:
        return
    case.step = planned.step + 1
    case.next_step_at = next_step_time(
        ladder(clinic, Level(case.level)),
        planned.step,
        opened_at=case.ladder_started_at,
        now=now,
        zone=clinic.zone,
        hours=business_hours(clinic),
        delivered=delivered,
    )
    if reached_nobody:
        log.critical("page.nobody_reached case=%s clinic=%s", case.id, case.clinic_id)
        case.next_step_at = now + timedelta(minutes=1)
        await audit.append(
            session,
            at=now,
            actor=PAGER,
            event="escalation.nobody_reached",
            clinic_id=case.clinic_id,
            patient_id=case.patient_id,
            case_id=case.id,
            detail={"step": planned.step, "recipients": recipients},
        )


async def unacknowledge(session: AsyncSession, *, case_id: int, source: str, now: datetime) -> bool:
    """The service's incident is unacknowledged again (its acknowledgement lapsed or was
    withdrawn): the case is open and its ladder starts over as a re-opened case's does, so the
    next tick pages its first rung and marks the older pages. False if it was not acknowledged."""
    case = await get_case(session, case_id=case_id, lock=True)
    if case is None or case.status != CaseStatus.ACKNOWLEDGED:
        return False
    case.status, case.step = CaseStatus.OPEN, 0
    case.ladder_started_at = case.next_step_at = now
    case.acknowledged_at = case.acknowledged_by = None
    await audit.append(
        session,
        at=now,
        actor=SERVICE,
        event="escalation.unacknowledged",
        clinic_id=case.clinic_id,
        patient_id=case.patient_id,
        case_id=case.id,
        detail={"level": case.level, "via": source},
    )
    return True


async def reopen_for_outreach(
    session: AsyncSession, *, case: Case, wording: str, need: str, now: datetime
) -> None:
    """An acknowledged case past its outreach target (`services/reaching/outreach`) goes back up
    its ladder from the first rung, as a re-opened case does; its reason says what is missing,
    so every page and the console show it. The claim's lease is handed back for the pager."""
    acknowledged_by = case.acknowledged_by
    case.reason = f"{case.reason}\n[{now:%Y-%m-%d %H:%M} UTC] {wording}".strip()
    case.status, case.step = CaseStatus.OPEN, 0
    case.ladder_started_at = case.next_step_at = now
    case.acknowledged_at = case.acknowledged_by = None
    case.lease_owner = case.lease_until = None
    await audit.append(
        session,
        at=now,
        actor=DISPATCHER,
        event="outreach.overdue",
        clinic_id=case.clinic_id,
        patient_id=case.patient_id,
        case_id=case.id,
        detail={
            "level": case.level,
            "missing": need,
            "due_at": case.outreach_due_at.isoformat() if case.outreach_due_at else None,
            "acknowledged_by": acknowledged_by,
        },
    )


async def has_open_case(session: AsyncSession, *, patient_id: int) -> bool:
    """Something concerning is on record for the patient and not yet resolved."""
    return await has_unresolved_case(session, patient_id=patient_id)
