"""A patient's answers to a check-in: stored at once, triaged, and raised in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain import checkin_flow, instruments
from bot.domain.checkin_flow import Tap
from bot.domain.levels import Level, highest
from bot.domain.triage import CSSRS_LEVEL, Finding, Triage
from bot.i18n import current_language
from bot.services import checkin_states
from bot.services.cases import RaisedCase, raise_case
from bot.services.messages import scan_for_crisis_words
from storage import audit
from storage.checkins import add_answer, answers_of, get_for_update, open_checkins, replace_answer
from storage.models import Answer, Checkin, Patient
from storage.states import TRIAGE, Actor, ActorKind, CaseTrigger, CheckinStatus, patient_actor


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
    card: bool = False  # show the full crisis card now: the check-in's first finding (§7)
    corrected_from: str | None = None  # a Yes that replaced this earlier answer
    waiting_for: str | None = None  # the question the check-in waited for before this answer
    waiting_message_id: int | None = None  # and the message that asked it

    @property
    def completed(self) -> bool:
        return self.next_item is None

    @property
    def changed_course(self) -> bool:
        """The answer came out of turn and changed which question is next."""
        return self.item_id != self.waiting_for and self.next_item != self.waiting_for


@dataclass(frozen=True)
class AlreadySaved:
    """A repeat tap on a question already answered: nothing changes."""

    item_id: str
    value: str
    current_message_id: int | None  # the check-in's question on screen now: keeps its buttons


@dataclass(frozen=True)
class NotCurrent:
    """A tap on an open check-in's question that is not the one it waits for."""

    current_message_id: int | None


@dataclass(frozen=True)
class LateYes:
    """A Yes on a closed check-in's question: kept, and raised like any Yes."""

    raised: RaisedCase | None
    card: bool


TapResult = Answered | AlreadySaved | NotCurrent | LateYes | None


async def record_tap(
    session: AsyncSession,
    *,
    patient: Patient,
    clinic: ClinicConfig,
    tap: Tap,
    now: datetime,
    update_id: int | None,
    on_accepted: Callable[[], object] | None = None,
) -> TapResult:
    """A button answer, however it arrives; None if it is not this patient's to give.
    `on_accepted()`: the tap is the next answer, first given (no correction), about to be
    written; the handler stops the spinner there, wordless (the intake already kept the update).

    The next question's answer is stored. A Yes is never dropped (README, triage): a Yes to
    a question answered No replaces the No, a Yes out of turn is stored, a Yes on a closed
    check-in is kept as a late Yes; each is triaged and raised like any Yes. A No after a
    Yes, and any repeat, changes nothing (`AlreadySaved`).
    """
    checkin = await get_for_update(session, checkin_id=tap.checkin_id)
    if checkin is None or checkin.patient_id != patient.id or patient.id is None:
        return None
    if not checkin_flow.accepts(tap.item_id, tap.value):
        return None
    if checkin_states.delivered_before_recorded(checkin, tap):
        checkin_states.mark_sent(checkin, patient=patient, clinic=clinic, now=now, message_id=None)
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
    answers = await answers_of(session, checkin_id=tap.checkin_id)
    stored = answers.get(tap.item_id)
    positive = checkin_flow.is_positive(tap.item_id, tap.value)
    raises = positive and (stored is None or not checkin_flow.is_positive(tap.item_id, stored))
    if not CheckinStatus(checkin.status).is_open:
        if checkin.status == CheckinStatus.SCHEDULED:
            return None  # never sent: nothing of it can have been tapped
        if raises:
            return await _late_yes(
                session,
                checkin=checkin,
                patient=patient,
                tap=tap,
                now=now,
                update_id=update_id,
                replaces=stored,
            )
        return AlreadySaved(tap.item_id, stored, None) if stored is not None else None
    expected = checkin_flow.next_item(answers, asks_red_flags=checkin.asks_red_flags)
    if tap.item_id != expected and not raises:
        if stored is not None:
            return AlreadySaved(tap.item_id, stored, checkin.message_id)
        return NotCurrent(checkin.message_id)
    if stored is None and on_accepted is not None:
        on_accepted()
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
        replaces=stored,
    )


def _answer(
    patient_id: int,
    checkin_id: int | None,
    item_id: str,
    value: str,
    *,
    now: datetime,
    update_id: int | None,
) -> Answer:
    """An answer row with its instrument and version (CLINICAL.md: every answer traceable)."""
    item = instruments.item(item_id)
    return Answer(
        patient_id=patient_id,
        checkin_id=checkin_id,
        item_id=item_id,
        value=value,
        instrument_id=item.instrument_id,
        instrument_version=item.instrument_version,
        answered_at=now,
        update_id=update_id,
        language=current_language(),  # what the item was shown in: the update's language
    )


async def _late_yes(
    session: AsyncSession,
    *,
    checkin: Checkin,
    patient: Patient,
    tap: Tap,
    now: datetime,
    update_id: int | None,
    replaces: str | None,
) -> LateYes:
    """A Yes on a closed check-in's question cannot change that check-in: it is kept as its
    own answer and raised at the level the item carries (C-SSRS table, or high: red flag)."""
    assert patient.id is not None
    await add_answer(
        session,
        answer=_answer(patient.id, None, tap.item_id, tap.value, now=now, update_id=update_id),
    )
    level = CSSRS_LEVEL.get(tap.item_id, Level.HIGH)
    label = (
        "red flag" if tap.item_id == checkin_flow.RED_FLAGS else f"C-SSRS item {tap.item_id[1:]}"
    )
    was = f" (answered {replaces} in the check-in)" if replaces is not None else ""
    raised = await raise_case(
        session,
        patient=patient,
        level=level,
        trigger=CaseTrigger.CHECKIN,
        now=now,
        checkin_id=checkin.id,
        findings=[
            Finding(level, f"{label} = Yes, tapped after check-in #{checkin.id} closed{was}")
        ],
        fast_path=True,  # the handler pages it at once (bot.messaging.conversation.urgent)
    )
    return LateYes(raised, card=checkin_states.take_crisis_card(checkin, now=now))


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
    replaces: str | None = None,
) -> Answered:
    assert patient.id is not None and checkin.id is not None
    waiting_for = checkin_flow.next_item(answers, asks_red_flags=checkin.asks_red_flags)
    waiting_message_id = checkin.message_id
    answer = _answer(patient.id, checkin.id, item_id, value, now=now, update_id=update_id)
    await _save(session, answer, replacing=replaces is not None)
    answers[item_id] = value
    following = checkin_flow.next_item(answers, asks_red_flags=checkin.asks_red_flags)
    checkin_states.record_progress(checkin, next_item=following, now=now)
    before = Level(checkin.risk_level)
    result = await checkin_states.retriage(
        session,
        checkin=checkin,
        patient=patient,
        clinic=clinic,
        answers=answers,
        closed=following is None,
    )
    scored = result.level != before or following is None
    await _audit(
        session, checkin, patient, item_id, value, replaces, result if scored else None, now
    )
    positive = checkin_flow.is_positive(item_id, value)
    raised = None
    if positive or Level(result.level).rank > before.rank:
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
        words, worded = await scan_for_crisis_words(
            session, patient=patient, clinic=clinic, text=value, now=now, checkin_id=checkin.id
        )
        if worded is not None and (raised is None or worded.page_now):
            raised = worded
        if words:  # the note's words are part of this check-in's result (CLINICAL.md §5, §6)
            checkin.risk_level = highest(Level(checkin.risk_level), Level.MODERATE)
    concerning = positive or bool(words)
    return Answered(
        checkin=checkin,
        item_id=item_id,
        value=value,
        next_item=following,
        positive=concerning,
        triage=result,
        raised=raised,
        words=tuple(words),
        card=concerning and checkin_states.take_crisis_card(checkin, now=now),
        corrected_from=replaces,
        waiting_for=waiting_for,
        waiting_message_id=waiting_message_id,
    )


async def _save(session: AsyncSession, answer: Answer, *, replacing: bool) -> None:
    if not replacing:
        await add_answer(session, answer=answer)
        return
    assert answer.checkin_id is not None
    await replace_answer(  # a Yes replacing a No: the higher answer wins
        session,
        checkin_id=answer.checkin_id,
        item_id=answer.item_id,
        value=answer.value,
        answered_at=answer.answered_at,
        update_id=answer.update_id,
    )


async def _audit(
    session: AsyncSession,
    checkin: Checkin,
    patient: Patient,
    item_id: str,
    value: str,
    replaces: str | None,
    scored: Triage | None,
    now: datetime,
) -> None:
    """`answer.recorded` (or `.corrected`), with the instrument (a note by its length only),
    and `triage.scored` when the level changed or the check-in is complete (`scored`)."""
    item = instruments.item(item_id)
    shown = value if item_id != checkin_flow.NOTE else f"<{len(value)} characters>"
    event = "answer.recorded" if replaces is None else "answer.corrected"
    of = (patient.clinic_id, patient.id, checkin.id)
    recorded = {
        "item": item_id,
        "value": shown,
        **({"replaces": replaces} if replaces is not None else {}),
        "instrument": item.instrument_id,
        "version": item.instrument_version,
    }
    entries = [audit.Entry(now, patient_actor(patient.id), event, *of, detail=recorded)]
    if scored is not None:
        versions = {
            instruments.cssrs().id: instruments.cssrs().version,
            instruments.checkin_items().id: instruments.checkin_items().version,
        }
        findings = [f.reason for f in scored.findings]
        detail = {"level": scored.level, "findings": findings, "instruments": versions}
        entries.append(audit.Entry(now, TRIAGE, "triage.scored", *of, detail=detail))
    await audit.append_many(session, entries)


async def next_question(session: AsyncSession, *, patient: Patient) -> tuple[int, str] | None:
    """The patient's open check-in and the question it waits for, if any."""
    assert patient.id is not None
    opened = await open_checkins(session, patient_id=patient.id)
    if not opened or opened[0].id is None:
        return None
    answers = await answers_of(session, checkin_id=opened[0].id)
    item = checkin_flow.next_item(answers, asks_red_flags=opened[0].asks_red_flags)
    return None if item is None else (opened[0].id, item)
