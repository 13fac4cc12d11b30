"""Check-in bookkeeping: answers stored at once, triage, closing (no Telegram here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain import checkin_flow, instruments
from bot.domain.checkin_flow import Tap
from bot.domain.crisis_terms import CrisisMatcher
from bot.domain.escalation import NonResponseRule, non_response_findings
from bot.domain.levels import Level, highest
from bot.domain.schedule import defer_past_quiet_hours
from bot.domain.triage import CSSRS_LEVEL, Finding, Triage, triage_checkin
from bot.services.cases import RaisedCase, raise_case
from storage import audit
from storage.checkins import (
    add_answer,
    answers_of,
    get_for_update,
    open_checkins,
    previous_moods,
    recent_closed,
    screened_checkins,
)
from storage.models import Answer, Checkin, Patient
from storage.states import TRIAGE, Actor, ActorKind, CaseTrigger, CheckinStatus, patient_actor

FREE_TEXT_ITEM = "message"  # a message typed outside any check-in


@dataclass(frozen=True)
class Answered:
    """What an accepted answer changed, for the handler to tell the patient."""

    checkin: Checkin
    item_id: str
    value: str
    next_item: str | None
    positive: bool
    triage: Triage
    raised: RaisedCase | None = None
    words: tuple[str, ...] = ()  # crisis words found in a typed note

    @property
    def completed(self) -> bool:
        return self.next_item is None


async def _retriage(
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


async def record_tap(
    session: AsyncSession,
    *,
    patient: Patient,
    clinic: ClinicConfig,
    tap: Tap,
    now: datetime,
    update_id: int | None,
) -> Answered | None:
    """Store a button answer if it is this patient's open check-in's next question; else None."""
    checkin = await get_for_update(session, checkin_id=tap.checkin_id)
    if checkin is None or checkin.patient_id != patient.id:
        return None
    if delivered_before_recorded(checkin, tap):
        mark_sent(checkin, patient=patient, clinic=clinic, now=now, message_id=None)
        await audit.append(
            session,
            at=now,
            actor=Actor.of(ActorKind.PATIENT),
            event="checkin.sent_by_answer",
            clinic_id=patient.clinic_id,
            patient_id=patient.id,
            checkin_id=checkin.id,
            detail={"reason": "answered before the send was recorded"},
        )
    if checkin.status not in (CheckinStatus.SENT, CheckinStatus.IN_PROGRESS):
        return None
    answers = await answers_of(session, checkin_id=tap.checkin_id)
    expected = checkin_flow.next_item(answers, asks_red_flags=checkin.asks_red_flags)
    if tap.item_id != expected or not checkin_flow.accepts(tap.item_id, tap.value):
        return None
    return await _store(
        session,
        checkin=checkin,
        patient=patient,
        clinic=clinic,
        answers=answers,
        item_id=tap.item_id,
        value=tap.value,
        now=now,
        update_id=update_id,
    )


async def record_late_yes(
    session: AsyncSession, *, patient: Patient, tap: Tap, now: datetime, update_id: int | None
) -> RaisedCase | None:
    """A Yes tapped on an old question of the patient's closed check-in is never thrown away.

    It cannot change the closed check-in, so it is kept as its own answer and escalated at
    the level the item carries (C-SSRS table, or high for a red flag).
    """
    checkin = await get_for_update(session, checkin_id=tap.checkin_id)
    if checkin is None or checkin.patient_id != patient.id or patient.id is None:
        return None
    if CheckinStatus(checkin.status).is_open or not checkin_flow.is_positive(
        tap.item_id, tap.value
    ):
        return None
    if tap.item_id in await answers_of(session, checkin_id=tap.checkin_id):
        return None  # that question was answered in its check-in; this is a stale repeat
    item = instruments.item(tap.item_id)
    await add_answer(
        session,
        answer=Answer(
            patient_id=patient.id,
            checkin_id=None,
            item_id=tap.item_id,
            value=tap.value,
            instrument_id=item.instrument_id,
            instrument_version=item.instrument_version,
            answered_at=now,
            update_id=update_id,
        ),
    )
    level = CSSRS_LEVEL.get(tap.item_id, Level.HIGH)
    label = (
        "red flag" if tap.item_id == checkin_flow.RED_FLAGS else f"C-SSRS item {tap.item_id[1:]}"
    )
    return await raise_case(
        session,
        patient=patient,
        level=level,
        trigger=CaseTrigger.CHECKIN,
        now=now,
        checkin_id=checkin.id,
        findings=[Finding(level, f"{label} = Yes, tapped after check-in #{checkin.id} closed")],
        fast_path=True,  # the handler pages it at once (bot.messaging.conversation.urgent)
    )


async def awaiting_note(session: AsyncSession, *, patient: Patient) -> Checkin | None:
    """The patient's open check-in whose next question is the free-text note, if any."""
    assert patient.id is not None
    for checkin in await open_checkins(session, patient_id=patient.id):
        if checkin.current_item == checkin_flow.NOTE:
            return checkin
    return None


async def record_note(
    session: AsyncSession,
    *,
    patient: Patient,
    clinic: ClinicConfig,
    checkin_id: int,
    text: str,
    now: datetime,
    update_id: int | None,
) -> Answered | None:
    """Store typed text as the check-in's note, if the note is still its next question."""
    checkin = await get_for_update(session, checkin_id=checkin_id)
    if (
        checkin is None
        or checkin.patient_id != patient.id
        or not CheckinStatus(checkin.status).is_open
    ):
        return None
    answers = await answers_of(session, checkin_id=checkin_id)
    if checkin_flow.next_item(answers, asks_red_flags=checkin.asks_red_flags) != checkin_flow.NOTE:
        return None
    return await _store(
        session,
        checkin=checkin,
        patient=patient,
        clinic=clinic,
        answers=answers,
        item_id=checkin_flow.NOTE,
        value=text,
        now=now,
        update_id=update_id,
    )


async def _store(
    session: AsyncSession,
    *,
    checkin: Checkin,
    patient: Patient,
    clinic: ClinicConfig,
    answers: dict[str, str],
    item_id: str,
    value: str,
    now: datetime,
    update_id: int | None,
) -> Answered:
    item = instruments.item(item_id)
    assert patient.id is not None and checkin.id is not None
    await add_answer(
        session,
        answer=Answer(
            patient_id=patient.id,
            checkin_id=checkin.id,
            item_id=item_id,
            value=value,
            instrument_id=item.instrument_id,
            instrument_version=item.instrument_version,
            answered_at=now,
            update_id=update_id,
        ),
    )
    answers[item_id] = value
    following = checkin_flow.next_item(answers, asks_red_flags=checkin.asks_red_flags)
    checkin.current_item = following
    if following is None:
        checkin.status, checkin.closed_at = CheckinStatus.COMPLETED, now
    else:
        checkin.status = CheckinStatus.IN_PROGRESS
    before = checkin.risk_level
    result = await _retriage(
        session,
        checkin=checkin,
        patient=patient,
        clinic=clinic,
        answers=answers,
        closed=following is None,
    )
    shown = value if item_id != checkin_flow.NOTE else f"<{len(value)} characters>"
    await audit.append(
        session,
        at=now,
        actor=patient_actor(patient.id),
        event="answer.recorded",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        checkin_id=checkin.id,
        detail={
            "item": item_id,
            "value": shown,
            "instrument": item.instrument_id,
            "version": item.instrument_version,
        },
    )
    if result.level != before or following is None:
        await audit.append(
            session,
            at=now,
            actor=TRIAGE,
            event="triage.scored",
            clinic_id=patient.clinic_id,
            patient_id=patient.id,
            checkin_id=checkin.id,
            detail={
                "level": result.level,
                "findings": [f.reason for f in result.findings],
                "instruments": {
                    instruments.cssrs().id: instruments.cssrs().version,
                    instruments.checkin_items().id: instruments.checkin_items().version,
                },
            },
        )
    positive = checkin_flow.is_positive(item_id, value)
    raised = None
    if positive or Level(result.level).rank > Level(before).rank:
        raised = await raise_case(
            session,
            patient=patient,
            level=Level(result.level),
            findings=result.findings,
            trigger=CaseTrigger.CHECKIN,
            now=now,
            checkin_id=checkin.id,
            fast_path=True,  # the handler pages it at once (bot.messaging.conversation.urgent)
        )
    words: list[str] = []
    if item_id == checkin_flow.NOTE:
        words, worded = await _scan(
            session, patient=patient, clinic=clinic, text=value, now=now, checkin_id=checkin.id
        )
        if worded is not None and (raised is None or worded.page_now):
            raised = worded
        if words:  # the note's words are part of this check-in's result (CLINICAL.md §5, §6)
            checkin.risk_level = highest(Level(checkin.risk_level), Level.MODERATE)
    return Answered(
        checkin=checkin,
        item_id=item_id,
        value=value,
        next_item=following,
        positive=positive or bool(words),
        triage=result,
        raised=raised,
        words=tuple(words),
    )


_MATCHERS: dict[tuple[str, ...], CrisisMatcher] = {}


def crisis_words(clinic: ClinicConfig, text: str) -> list[str]:
    """The clinic's crisis terms found in a message (CLINICAL.md §5); a miss proves nothing."""
    key = tuple(clinic.crisis.terms)
    if key not in _MATCHERS:
        _MATCHERS[key] = CrisisMatcher(key)
    return _MATCHERS[key].find(text)


async def _scan(
    session: AsyncSession,
    *,
    patient: Patient,
    clinic: ClinicConfig,
    text: str,
    now: datetime,
    checkin_id: int | None,
) -> tuple[list[str], RaisedCase | None]:
    """Crisis words raise at least moderate and ask a human to read the message (§5)."""
    words = crisis_words(clinic, text)
    if not words:
        return [], None
    finding = Finding(
        Level.MODERATE,
        f"crisis words in a message: {', '.join(words)} — please read the patient's words",
    )
    raised = await raise_case(
        session,
        patient=patient,
        level=Level.MODERATE,
        findings=[finding],
        trigger=CaseTrigger.MESSAGE,
        now=now,
        checkin_id=checkin_id,
        quote=text,
        fast_path=True,  # the handler pages it at once (bot.messaging.conversation.urgent)
    )
    return words, raised


@dataclass(frozen=True)
class Message:
    """A kept free-text message and what it raised."""

    answer: Answer
    words: tuple[str, ...]
    raised: RaisedCase | None


async def record_free_text(
    session: AsyncSession,
    *,
    patient: Patient,
    clinic: ClinicConfig,
    text: str,
    now: datetime,
    update_id: int | None,
    scan: bool = True,
) -> Message:
    """Keep a message typed outside any question; every word a patient sends is kept."""
    assert patient.id is not None
    answer = await add_answer(
        session,
        answer=Answer(
            patient_id=patient.id,
            checkin_id=None,
            item_id=FREE_TEXT_ITEM,
            value=text,
            instrument_id=instruments.checkin_items().id,
            instrument_version=instruments.checkin_items().version,
            answered_at=now,
            update_id=update_id,
        ),
    )
    await audit.append(
        session,
        at=now,
        actor=patient_actor(patient.id),
        event="message.received",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        detail={"answer_id": answer.id, "length": len(text)},
    )
    words: list[str] = []
    raised = None
    if scan:
        words, raised = await _scan(
            session, patient=patient, clinic=clinic, text=text, now=now, checkin_id=None
        )
    return Message(answer=answer, words=tuple(words), raised=raised)


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
    result = await _retriage(
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
    if not screened and patient.status == "active":
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
