"""Building a patient's timeline from their records, whole or a page at a time. Read only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import checkin_flow, instruments
from bot.i18n import C_, NC_
from bot.services.messages import FREE_TEXT_ITEM
from bot.services.overview import status_label
from bot.services.patients import patient_actions
from bot.services.safety.events import plan_uses
from bot.services.timeline.entries import (
    AnswerView,
    CaseEntry,
    CheckinEntry,
    InfusionEntry,
    LateAnswerEntry,
    MessageEntry,
    PageView,
    PlanEntry,
    ThreadEntry,
    Timeline,
    TimelineEntry,
    TimelinePatient,
)
from bot.services.wording.checkin_labels import staff_checkin_label
from storage.cases import messages_to_patient
from storage.patients import patient_by_ref
from storage.states import MessageStatus, PageStatus, PatientStatus
from storage.views.timeline import (
    AnswerRecord,
    CaseRecord,
    CheckinRecord,
    HistoryIds,
    HistoryKeys,
    PageRecord,
    PatientHistory,
    history_keys,
    patient_history,
)


async def patient_timeline(
    session: AsyncSession,
    *,
    clinic_id: str,
    patient_ref: str,
    now: datetime,
    days: int | None = None,
    page: int | None = None,
    per_page: int = 50,
) -> Timeline | None:
    """The patient's history, newest first (the last `days` days, or all); None when that
    clinic has no patient with that ref. Every time is aware UTC.

    Every entry, or with `page` (from 1) only that page of `per_page` entries (a page past
    the end: the first): the page is placed from narrow queries, then only its records are
    read and opened, so a long history costs about one page."""
    patient = await patient_by_ref(session, clinic_id=clinic_id, ref=patient_ref)
    if patient is None or patient.id is None:
        return None
    since = now - timedelta(days=days) if days is not None else None
    around = await _thread_entries(session, patient_id=patient.id, since=since)
    around += [
        PlanEntry(u.at, u.case_id, u.line)
        for u in await plan_uses(session, patient_id=patient.id, since=since)
    ]
    if page is None:
        history = await patient_history(session, patient_id=patient.id, now=now, since=since)
        entries = _entries(history) + around
        # Each kind came oldest first (by time, then id): a stable sort, then reversed, puts the
        # newest first and, at the same instant, what followed (a case) above what caused it.
        entries.sort(key=lambda e: (e.at, _TIE_ORDER[e.kind]))
        entries.reverse()
        total, first = len(entries), 0
    else:
        placed = _placed(await history_keys(session, patient_id=patient.id, since=since), around)
        placed.sort(key=lambda p: p[:3], reverse=True)  # the same order as above
        total = len(placed)
        first = (page - 1) * per_page if 1 <= page <= -(-total // per_page) else 0
        shown = placed[first : first + per_page]
        history = await patient_history(
            session, patient_id=patient.id, now=now, since=since, only=_ids(shown)
        )
        built = {(e.kind, _id_of(e)): e for e in _entries(history)}
        # A record placed but gone when the page is read (on PostgreSQL a purge or an erasure
        # may commit in between) is left out: the page is short by one, never an error.
        found = [
            ref if isinstance(ref, ThreadEntry | PlanEntry) else built.get((kind, ref))
            for *_, kind, ref in shown
        ]
        entries = [entry for entry in found if entry is not None]
    status = PatientStatus(patient.status)
    return Timeline(
        patient=TimelinePatient(
            id=patient.id,
            ref=patient.ref,
            status=status,
            status_label=status_label(status),
            timezone=patient.timezone,
            baseline_mood=patient.baseline_mood,
            protocol=patient.protocol,
            consented_at=patient.consented_at,
            actions=patient_actions(status),
        ),
        entries=tuple(entries),
        total=total,
        first=first,
        next_planned=history.next_planned,
        since=since,
    )


def _entries(history: PatientHistory) -> list[TimelineEntry]:
    """The entries of these records (each kind oldest first, as the records came)."""
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
    return entries


# Where an entry sits: (at, tie order, place in its kind's order, kind, id or the entry itself).
_Placed = tuple[datetime, int, int, str, Any]


def _placed(keys: HistoryKeys, around: list[TimelineEntry]) -> list[_Placed]:
    """Every entry's place, from `history_keys` and the entries already built."""
    placed: list[_Placed] = []
    for kind, rows in (
        ("infusion", keys.infusions),
        ("checkin", keys.checkins),
        ("case", keys.cases),
    ):
        placed += [(at, _TIE_ORDER[kind], n, kind, i) for n, (i, at) in enumerate(rows)]
    for n, (i, item, at) in enumerate(keys.loose_answers):
        kind = "message" if item == FREE_TEXT_ITEM else "late_answer"
        placed.append((at, _TIE_ORDER[kind], n, kind, i))
    for n, entry in enumerate(around):  # thread messages, then plan uses: each oldest first
        placed.append((entry.at, _TIE_ORDER[entry.kind], n, entry.kind, entry))
    return placed


def _ids(shown: list[_Placed]) -> HistoryIds:
    def of(*kinds: str) -> list[int]:
        return [ref for *_, kind, ref in shown if kind in kinds]

    return HistoryIds(
        infusions=of("infusion"),
        checkins=of("checkin"),
        loose_answers=of("message", "late_answer"),
        cases=of("case"),
    )


def _id_of(entry: TimelineEntry) -> int:
    if isinstance(entry, InfusionEntry):
        return entry.infusion_id
    if isinstance(entry, CheckinEntry):
        return entry.checkin_id
    if isinstance(entry, CaseEntry):
        return entry.case_id
    if isinstance(entry, MessageEntry | LateAnswerEntry):
        return entry.answer_id
    raise TypeError(entry.kind)  # thread messages and plan uses are placed as they are


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
) -> list[TimelineEntry]:
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
