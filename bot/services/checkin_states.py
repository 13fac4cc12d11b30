"""A check-in's states: every change of `Checkin.status` happens here (no Telegram here).

scheduled ─ sent ─ in_progress ─ completed
    │         └──────┴─────────── abandoned / missed (closed by its answer window)
    └─ cancelled / superseded / failed / missed (never sent)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain import checkin_flow
from bot.domain.checkin_flow import Tap
from bot.domain.escalation import NonResponseRule, non_response_findings
from bot.domain.levels import Level, highest
from bot.domain.schedule import defer_past_quiet_hours
from bot.domain.triage import Finding, Triage, triage_checkin
from bot.services.cases import RaisedCase, raise_case
from storage import audit
from storage.checkins import (
    add_checkins,
    answers_of,
    awaits,
    cancel_scheduled,
    get_checkin,
    previous_moods,
    recent_closed,
    screened_checkins,
)
from storage.models import Checkin, Patient
from storage.states import Actor, CaseTrigger, CheckinKind, CheckinStatus, PatientStatus


async def retriage(
    session: AsyncSession,
    *,
    checkin: Checkin,
    patient: Patient,
    clinic: ClinicConfig,
    answers: dict[str, str],
    closed: bool,
) -> Triage:
    """Recompute the check-in's level from its answers; never below the level already stored."""
    assert patient.id is not None
    moods = await previous_moods(
        session,
        patient_id=patient.id,
        before=checkin.sent_at or checkin.due_at,
        limit=clinic.thresholds.mood_drop_checkins,
    )
    result = triage_checkin(
        answers,
        closed=closed,
        baseline=patient.baseline_mood,
        previous_moods=moods,
        mood_rule=clinic.thresholds.mood_rule(),
        floor=Level(checkin.risk_level),
    )
    checkin.risk_level = result.level
    return result


def mark_sent(
    checkin: Checkin,
    *,
    patient: Patient,
    clinic: ClinicConfig,
    now: datetime,
    message_id: int | None,
) -> None:
    """The first question is with the patient: open the answer window and its reminder."""
    checkin.status, checkin.sent_at = CheckinStatus.SENT, now
    checkin.message_id = message_id if message_id is not None else checkin.message_id
    checkin.current_item = checkin_flow.MOOD
    checkin.reminder_due_at = defer_past_quiet_hours(
        now + clinic.checkins.reminder_after, ZoneInfo(patient.timezone), clinic.quiet()
    )
    checkin.closes_at = now + clinic.checkins.missed_after


async def is_next_answer(session: AsyncSession, *, patient: Patient, tap: Tap) -> bool:
    """Whether `answers.record_tap` would take this tap now as its check-in's next answer,
    first given (the check-in open, waiting for this item). One row by key: the intake asks it
    in the transaction that stores the tap, and stops the spinner as soon as that commits."""
    if patient.id is None or not checkin_flow.accepts(tap.item_id, tap.value):
        return False
    return await awaits(
        session, checkin_id=tap.checkin_id, patient_id=patient.id, item_id=tap.item_id
    )


def delivered_before_recorded(checkin: Checkin, tap: Tap) -> bool:
    """A tap on the first question of a check-in whose send is not yet written down.

    The dispatcher records a batch's outcomes after the batch's sends, and under the rate
    limiter a batch takes seconds to go out: a quick patient can answer before the check-in
    says 'sent'. The button proves the question arrived, so the answer counts. Only for a
    check-in being sent or sent before (leased, or attempted): a forged tap cannot open a
    check-in that is not due.
    """
    return (
        checkin.status == CheckinStatus.SCHEDULED
        and tap.item_id == checkin_flow.MOOD
        and (checkin.lease_owner is not None or checkin.attempts > 0)
    )


async def close_checkin(
    session: AsyncSession,
    *,
    checkin: Checkin,
    patient: Patient,
    clinic: ClinicConfig,
    now: datetime,
    actor: Actor,
    status: CheckinStatus | None = None,
) -> RaisedCase | None:
    """Close a check-in: missed with no answer, abandoned with some (answers kept).

    What the closing reveals — the abandoned-screener rule, and silence (CLINICAL.md §6) —
    opens or raises the patient's escalation in this same transaction.
    """
    assert checkin.id is not None and patient.id is not None
    answers = await answers_of(session, checkin_id=checkin.id)
    before = Level(checkin.risk_level)
    checkin.status = status or (CheckinStatus.ABANDONED if answers else CheckinStatus.MISSED)
    checkin.closed_at, checkin.lease_owner, checkin.lease_until = now, None, None
    result = await retriage(
        session, checkin=checkin, patient=patient, clinic=clinic, answers=answers, closed=True
    )
    await audit.append(
        session,
        at=now,
        actor=actor,
        event=f"checkin.{checkin.status}",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        checkin_id=checkin.id,
        detail={
            "answered": sorted(answers),
            "level": result.level,
            "findings": [f.reason for f in result.findings],
        },
    )
    findings = list(result.findings) if Level(result.level).rank > before.rank else []
    screened = any(item in answers for item in checkin_flow.CSSRS_ITEMS)
    if not screened and patient.status == PatientStatus.ACTIVE:
        # No screener answer (a mood alone tells nothing of safety): silence rules (§6).
        findings += await silence_findings(
            session, checkin=checkin, patient=patient, clinic=clinic, now=now
        )
    if not findings:
        return None
    return await raise_case(
        session,
        patient=patient,
        level=highest(*(f.level for f in findings)),
        findings=findings,
        trigger=CaseTrigger.CHECKIN if screened else CaseTrigger.NON_RESPONSE,
        now=now,
        checkin_id=checkin.id,
    )


def _silent(checkin: Checkin, screened: set[int]) -> bool:
    """Missed, or abandoned before any screener question was answered."""
    if checkin.status == CheckinStatus.MISSED:
        return True
    return checkin.status == CheckinStatus.ABANDONED and checkin.id not in screened


async def silence_findings(
    session: AsyncSession,
    *,
    checkin: Checkin,
    patient: Patient,
    clinic: ClinicConfig,
    now: datetime,
) -> list[Finding]:
    """CLINICAL.md §6 for a check-in closed with no answer."""
    assert patient.id is not None and checkin.id is not None
    earlier = await recent_closed(session, patient_id=patient.id, excluding=checkin.id)
    screened = await screened_checkins(session, checkin_ids=[c.id for c in earlier if c.id])
    rules = clinic.non_response
    offset = timedelta(seconds=checkin.offset_seconds) if checkin.offset_seconds else None
    return non_response_findings(
        offset=offset,
        missed=True,
        now=now,
        rule=NonResponseRule(
            missed_24h=rules.missed_24h,
            missed_after_risk=rules.missed_after_risk,
            risk_lookback=rules.risk_lookback,
            consecutive_missed=rules.consecutive_missed,
            consecutive_missed_level=rules.consecutive_missed_level,
        ),
        recent=[
            (c.due_at, "missed" if _silent(c, screened) else "answered", Level(c.risk_level))
            for c in earlier
        ],
    )


def record_progress(checkin: Checkin, *, next_item: str | None, now: datetime) -> None:
    """An answer was stored: in progress, or completed when no question is left."""
    checkin.current_item = next_item
    if next_item is None:
        checkin.status, checkin.closed_at = CheckinStatus.COMPLETED, now
    else:
        checkin.status = CheckinStatus.IN_PROGRESS


def cancel(checkin: Checkin, *, now: datetime, reason: str | None = None) -> None:
    """A scheduled check-in that will not be sent (patient stopped, infusion cancelled)."""
    _end_unsent(checkin, CheckinStatus.CANCELLED, now=now, reason=reason)


def supersede(checkin: Checkin, *, now: datetime, reason: str | None = None) -> None:
    """A scheduled check-in replaced by another (a newer plan, or one sent in its place)."""
    _end_unsent(checkin, CheckinStatus.SUPERSEDED, now=now, reason=reason)


def fail(checkin: Checkin, *, now: datetime, error: str | None) -> None:
    """Telegram refused the check-in for good."""
    _end_unsent(checkin, CheckinStatus.FAILED, now=now, reason=error)


def _end_unsent(
    checkin: Checkin, status: CheckinStatus, *, now: datetime, reason: str | None
) -> None:
    checkin.status, checkin.closed_at = status, now
    checkin.lease_owner = checkin.lease_until = None
    if reason is not None:
        checkin.last_error = reason


async def cancel_unsent(session: AsyncSession, *, patient_id: int, now: datetime) -> int:
    """Cancel every scheduled check-in of a patient (opt-out, unreachable); returns how many."""
    return await cancel_scheduled(
        session, patient_id=patient_id, now=now, status=CheckinStatus.CANCELLED
    )


async def start_adhoc(
    session: AsyncSession,
    *,
    patient: Patient,
    now: datetime,
    owner: str,
    lease_until: datetime | None,
) -> Checkin:
    """A check-in the patient asked for (/checkin), claimed by the instance that sends it."""
    assert patient.id is not None
    adhoc = Checkin(
        patient_id=patient.id,
        kind=CheckinKind.ADHOC,
        nominal_at=now,
        due_at=now,
        created_at=now,
        lease_owner=owner,
        lease_until=lease_until,
    )
    await add_checkins(session, checkins=[adhoc])
    return adhoc


def take_crisis_card(checkin: Checkin, *, now: datetime) -> bool:
    """Whether this finding shows the full crisis card: once per check-in (CLINICAL.md §7),
    and once more after it closed — a late Yes may come days later, far below the first card."""
    shown = checkin.crisis_card_at
    due = shown is None or (checkin.closed_at is not None and shown < checkin.closed_at)
    if due:
        checkin.crisis_card_at = now
    return due


async def crisis_card_undelivered(session: AsyncSession, *, checkin_id: int) -> None:
    """The card could not be delivered: the check-in's next finding shows it again."""
    checkin = await get_checkin(session, checkin_id=checkin_id)
    if checkin is not None:
        checkin.crisis_card_at = None
