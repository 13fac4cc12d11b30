"""What a patient's timeline is made of: one entry a thing that happened, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from bot.services.patients import PatientActions
from storage.states import (
    CaseStatus,
    CaseTrigger,
    CheckinKind,
    CheckinStatus,
    InfusionStatus,
    Level,
    PageStatus,
    PatientStatus,
)


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
    entries: tuple[TimelineEntry, ...]  # newest first (by `at`): all, or one page
    total: int  # entries in the whole timeline (since `since`)
    first: int  # the place of entries[0] in the whole timeline, from 0
    next_planned: datetime | None  # the earliest scheduled check-in due after now
    since: datetime | None  # entries start here; None: the whole history
