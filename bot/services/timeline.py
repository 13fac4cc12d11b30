"""A patient's timeline (the console's patient page; its newest part is Telegram's /history):
infusions, check-ins with their answers, typed messages, late answers and cases with their
pages, newest first. Read only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import checkin_flow, instruments
from bot.i18n import C_, NC_
from bot.services.messages import FREE_TEXT_ITEM
from bot.services.overview import status_label
from bot.services.patients import PatientActions, patient_actions
from bot.services.safety.events import plan_uses
from bot.services.wording.checkin_labels import staff_checkin_label
from storage.cases import messages_to_patient
from storage.patients import patient_by_ref
from storage.states import (
    CaseStatus,
    CaseTrigger,
    CheckinKind,
    CheckinStatus,
    InfusionStatus,
    Level,
    MessageStatus,
    PageStatus,
    PatientStatus,
)
from storage.views.timeline import (
    AnswerRecord,
    CaseRecord,
    CheckinRecord,
    PageRecord,
    patient_history,
)

__all__ = [
    "AnswerView",
    "CaseEntry",
    "CheckinEntry",
    "InfusionEntry",
    "LateAnswerEntry",
    "MessageEntry",
    "PageView",
    "PlanEntry",
    "RecentHistory",
    "ThreadEntry",
    "Timeline",
    "TimelineEntry",
    "TimelinePatient",
    "patient_timeline",
    "recent",
]


@dataclass(frozen=True)
class TimelinePatient:
    id: int
    ref: str
    status: PatientStatus
    status_label: str  # "stopped" for opted_out
    timezone: str  # show every time of the timeline in this zone
    baseline_mood: int | None
    protocol: str | None  # None: the clinic's default protocol
    consented_at: datetime | None
    actions: PatientActions  # what the clinic may do with their monitoring now


@dataclass(frozen=True)
class AnswerView:
    """One answer: `label` names the item ("Mood", "C-SSRS 2"), `question` is its wording in
    the instrument (None for an item no instrument defines), `shown` the answer as the patient
    saw it ("4/10", "Yes", "Skipped", or the note's text)."""

    item_id: str
    value: str
    label: str
    question: str | None
    shown: str
    answered_at: datetime


@dataclass(frozen=True)
class InfusionEntry:
    kind: ClassVar[str] = "infusion"
    at: datetime  # ended_at
    infusion_id: int
    ended_at: datetime
    protocol: str
    status: InfusionStatus

    @property
    def may_change(self) -> bool:
        """It can still be moved or cancelled."""
        return InfusionStatus(self.status).may_change


@dataclass(frozen=True)
class CheckinEntry:
    kind: ClassVar[str] = "checkin"
    at: datetime  # sent_at, or due_at for one never sent (missed while down, failed)
    checkin_id: int
    infusion_id: int | None
    checkin_kind: CheckinKind
    label: str  # "4-hour check-in", "day 3 daily check-in", "check-in started by the patient"
    due_at: datetime
    sent_at: datetime | None
    closed_at: datetime | None
    status: CheckinStatus
    risk_level: Level
    crisis_card_at: datetime | None  # when the crisis card was shown (CLINICAL.md §7)
    answers: tuple[AnswerView, ...]  # in question order (bot.domain.checkin_flow)

    @property
    def crisis_card_shown(self) -> bool:
        return self.crisis_card_at is not None


@dataclass(frozen=True)
class MessageEntry:
    """Words the patient typed outside any question (every word is kept)."""

    kind: ClassVar[str] = "message"
    at: datetime
    answer_id: int
    text: str


@dataclass(frozen=True)
class ThreadEntry:
    """A clinician's message to the patient through the bot, delivered or not (the patient's
    own words in a thread are already a `MessageEntry`)."""

    kind: ClassVar[str] = "case_message"
    at: datetime
    message_id: int
    case_id: int
    from_patient: bool
    writer: str | None  # the clinician's name, for their messages
    text: str
    delivered: bool


@dataclass(frozen=True)
class LateAnswerEntry:
    """A Yes tapped on a question of a check-in that had already closed, kept on its own."""

    kind: ClassVar[str] = "late_answer"
    at: datetime
    answer_id: int
    answer: AnswerView


@dataclass(frozen=True)
class PageView:
    clinician: str
    step: int  # the ladder rung, from 0
    status: PageStatus
    delivered: bool
    sent_at: datetime


@dataclass(frozen=True)
class CaseEntry:
    kind: ClassVar[str] = "case"
    at: datetime  # opened_at
    case_id: int
    checkin_id: int | None
    opened_at: datetime
    level: Level
    trigger: CaseTrigger
    reason: str  # one finding a line, each with its time, oldest first
    quote: str | None  # the patient's words, when words raised it
    status: CaseStatus
    pages: tuple[PageView, ...]  # oldest first
    acknowledged_by: str | None  # clinician's name
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolution_note: str | None


@dataclass(frozen=True)
class PlanEntry:
    """The patient opened their safety plan or tapped one of its buttons (CLINICAL.md §11)."""

    kind: ClassVar[str] = "safety_plan"
    at: datetime
    case_id: int | None  # the case open then, if any
    line: str  # "opened their plan, step 1 (warning signs)", "tapped Call Sam, step 4 (…)"


_Entries = InfusionEntry | CheckinEntry | MessageEntry | LateAnswerEntry
TimelineEntry = _Entries | CaseEntry | ThreadEntry | PlanEntry


@dataclass(frozen=True)
class Timeline:
    patient: TimelinePatient
    entries: tuple[TimelineEntry, ...]  # newest first (by `at`)
    next_planned: datetime | None  # the earliest scheduled check-in due after now
    since: datetime | None  # entries start here; None: the whole history


async def patient_timeline(
    session: AsyncSession,
    *,
    clinic_id: str,
    patient_ref: str,
    now: datetime,
    days: int | None = None,
) -> Timeline | None:
    """The patient's history, newest first (the last `days` days, or all); None when that
    clinic has no patient with that ref. Every time is aware UTC."""
    patient = await patient_by_ref(session, clinic_id=clinic_id, ref=patient_ref)
    if patient is None or patient.id is None:
        return None
    since = now - timedelta(days=days) if days is not None else None
    history = await patient_history(session, patient_id=patient.id, now=now, since=since)
    entries: list[TimelineEntry] = [
        InfusionEntry(i.ended_at, i.id, i.ended_at, i.protocol, i.status) for i in history.infusions
    ]
    in_checkins: dict[int, list[AnswerRecord]] = {c.id: [] for c in history.checkins}
    for answer in history.answers:
        if answer.checkin_id is not None:
            if answer.checkin_id in in_checkins:
                in_checkins[answer.checkin_id].append(answer)
        elif answer.item_id == FREE_TEXT_ITEM:
            entries.append(MessageEntry(answer.answered_at, answer.id, answer.value))
        else:
            entries.append(LateAnswerEntry(answer.answered_at, answer.id, _view(answer)))
    entries.extend(_checkin_entry(c, in_checkins[c.id]) for c in history.checkins)
    pages: dict[int, list[PageRecord]] = {}
    for page in history.pages:
        pages.setdefault(page.case_id, []).append(page)
    entries.extend(_case_entry(c, pages.get(c.id, [])) for c in history.cases)
    entries.extend(await _thread_entries(session, patient_id=patient.id, since=since))
    entries.extend(
        PlanEntry(u.at, u.case_id, u.line)
        for u in await plan_uses(session, patient_id=patient.id, since=since)
    )
    # Each kind came oldest first (by time, then id): a stable sort, then reversed, puts the
    # newest first and, at the same instant, what followed (a case) above what caused it.
    entries.sort(key=lambda e: (e.at, _TIE_ORDER[e.kind]))
    entries.reverse()
    return Timeline(
        patient=TimelinePatient(
            id=patient.id,
            ref=patient.ref,
            status=PatientStatus(patient.status),
            status_label=status_label(PatientStatus(patient.status)),
            timezone=patient.timezone,
            baseline_mood=patient.baseline_mood,
            protocol=patient.protocol,
            consented_at=patient.consented_at,
            actions=patient_actions(PatientStatus(patient.status)),
        ),
        entries=tuple(entries),
        next_planned=history.next_planned,
        since=since,
    )


@dataclass(frozen=True)
class RecentHistory:
    """The newest of a timeline: check-ins with their answers, and what the patient typed or
    answered outside them (Telegram's /history)."""

    patient: TimelinePatient
    checkins: tuple[CheckinEntry, ...]  # newest first
    messages: tuple[MessageEntry | LateAnswerEntry, ...]  # newest first


def recent(timeline: Timeline, *, checkins: int = 20, messages: int = 10) -> RecentHistory:
    """At most `checkins` check-ins and `messages` messages or late answers, newest first."""
    return RecentHistory(
        patient=timeline.patient,
        checkins=tuple(e for e in timeline.entries if isinstance(e, CheckinEntry))[:checkins],
        messages=tuple(
            e for e in timeline.entries if isinstance(e, MessageEntry | LateAnswerEntry)
        )[:messages],
    )


_TIE_ORDER = {
    "infusion": 0,
    "checkin": 1,
    "message": 2,
    "late_answer": 3,
    "case": 4,
    "case_message": 5,
    "safety_plan": 6,
}


async def _thread_entries(
    session: AsyncSession, *, patient_id: int, since: datetime | None
) -> list[ThreadEntry]:
    """The clinicians' messages to the patient (one query, their names joined)."""
    return [
        ThreadEntry(
            at=m.at,
            message_id=m.id or 0,
            case_id=m.case_id,
            from_patient=False,
            writer=writer,
            text=m.text,
            delivered=m.status != MessageStatus.FAILED,
        )
        for m, writer in await messages_to_patient(session, patient_id=patient_id, since=since)
    ]


_ITEM_ORDER = {item: index for index, item in enumerate(checkin_flow.ALL_ITEMS)}
_SHORT_LABELS = {
    checkin_flow.MOOD: NC_("Mood"),
    checkin_flow.RED_FLAGS: NC_("Red flags"),
    checkin_flow.NOTE: NC_("Note"),
}


def _checkin_entry(checkin: CheckinRecord, answers: list[AnswerRecord]) -> CheckinEntry:
    ordered = sorted(answers, key=lambda a: (_ITEM_ORDER.get(a.item_id, 99), a.answered_at))
    return CheckinEntry(
        at=checkin.sent_at or checkin.due_at,
        checkin_id=checkin.id,
        infusion_id=checkin.infusion_id,
        checkin_kind=checkin.kind,
        label=_checkin_label(checkin),
        due_at=checkin.due_at,
        sent_at=checkin.sent_at,
        closed_at=checkin.closed_at,
        status=checkin.status,
        risk_level=checkin.risk_level,
        crisis_card_at=checkin.crisis_card_at,
        answers=tuple(_view(a) for a in ordered),
    )


def _case_entry(case: CaseRecord, pages: list[PageRecord]) -> CaseEntry:
    return CaseEntry(
        at=case.opened_at,
        case_id=case.id,
        checkin_id=case.checkin_id,
        opened_at=case.opened_at,
        level=case.level,
        trigger=case.trigger,
        reason=case.reason,
        quote=case.quote,
        status=case.status,
        pages=tuple(
            PageView(p.clinician, p.step, p.status, p.status == PageStatus.SENT, p.sent_at)
            for p in pages
        ),
        acknowledged_by=case.acknowledged_by,
        acknowledged_at=case.acknowledged_at,
        resolved_by=case.resolved_by,
        resolved_at=case.resolved_at,
        resolution_note=case.resolution_note,
    )


def _checkin_label(checkin: CheckinRecord) -> str:
    offset = timedelta(seconds=checkin.offset_seconds) if checkin.offset_seconds else None
    return staff_checkin_label(checkin.kind.value, offset, checkin.day)


@cache
def _names(item_id: str) -> tuple[str, str | None]:
    """An item's short label and its wording in the instrument (None if none defines it)."""
    try:
        item = instruments.item(item_id)
    except StopIteration:  # not an item of any instrument (any more)
        return item_id, None
    return _SHORT_LABELS.get(item.id) or f"C-SSRS {item.number}", item.text


def _view(answer: AnswerRecord) -> AnswerView:
    label, question = _names(answer.item_id)
    return AnswerView(
        item_id=answer.item_id,
        value=answer.value,
        label=C_(label) if answer.item_id in _SHORT_LABELS else label,
        question=question,
        shown=checkin_flow.answer_label(answer.item_id, answer.value),
        answered_at=answer.answered_at,
    )
