"""Stored states: every status, level, trigger and actor column holds one of these."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from bot.domain.levels import Level

__all__ = [
    "Actor",
    "ActorKind",
    "CaseStatus",
    "CaseTrigger",
    "CheckinKind",
    "CheckinStatus",
    "InfusionStatus",
    "InviteKind",
    "Level",
    "ManagedBy",
    "PageEventAction",
    "PageEventStatus",
    "PageStatus",
    "PatientStatus",
    "SessionEnd",
    "SettingsSource",
    "ShiftRole",
    "ShiftSource",
]


class PatientStatus(StrEnum):
    INVITED = "invited"  # enrolled by the clinic; chat not linked yet
    ACTIVE = "active"  # consented; receives check-ins
    OPTED_OUT = "opted_out"  # sent /stop and confirmed
    UNREACHABLE = "unreachable"  # Telegram said blocked / deactivated
    ERASED = "erased"  # their words and contacts erased, their chat forgotten: for good (§ privacy)

    @property
    def is_stopped(self) -> bool:
        """Nothing is sent to them (they or the clinic stopped it, Telegram cannot reach them,
        or they were erased); all but an erased patient until the clinic resumes them."""
        return self in {PatientStatus.OPTED_OUT, PatientStatus.UNREACHABLE, PatientStatus.ERASED}


class CheckinStatus(StrEnum):
    """A check-in's state; every change goes through `bot.services.checkin_states`."""

    SCHEDULED = "scheduled"  # planned, not sent
    SENT = "sent"  # first question delivered, no answer yet
    IN_PROGRESS = "in_progress"  # at least one answer
    COMPLETED = "completed"  # every question answered (or skipped where optional)
    ABANDONED = "abandoned"  # answer window closed part-way; answers kept
    MISSED = "missed"  # answer window closed with no answer
    CANCELLED = "cancelled"  # infusion cancelled or moved, or patient opted out
    SUPERSEDED = "superseded"  # replaced by a newer infusion's plan
    FAILED = "failed"  # Telegram refused it for good (recorded with the error)

    @property
    def is_open(self) -> bool:
        return self in {CheckinStatus.SENT, CheckinStatus.IN_PROGRESS}


class CheckinKind(StrEnum):
    OFFSET = "offset"  # a fixed time after the infusion (+4 h, +24 h)
    DAILY = "daily"  # local time of day, days after the infusion
    ADHOC = "adhoc"  # started by the patient with /checkin


class CaseStatus(StrEnum):
    """A case's state; every change goes through `bot.services.cases`."""

    OPEN = "open"  # walking up its ladder until someone acknowledges
    ACKNOWLEDGED = "acknowledged"  # a clinician took it; re-paging stopped
    RESOLVED = "resolved"  # closed with a note

    @property
    def may_acknowledge(self) -> bool:
        """Only an open case is acknowledged (`services/case_taking.take`)."""
        return self is CaseStatus.OPEN

    @property
    def may_resolve(self) -> bool:
        """Any case not resolved yet may be (an open one is acknowledged with it)."""
        return self is not CaseStatus.RESOLVED


class CaseTrigger(StrEnum):
    """What opened or last raised a case (CLINICAL.md §2–§6)."""

    CHECKIN = "checkin"  # a check-in's answers (triage)
    MESSAGE = "message"  # crisis words in typed text
    NON_RESPONSE = "non_response"  # silence, unreachable, /stop, a refused send
    UNPROCESSED = "unprocessed"  # a message that failed every try and was parked (intake)

    @property
    def is_patients_own(self) -> bool:
        """Raised by the patient's own answer or words: they are told whether a page went."""
        return self in (CaseTrigger.CHECKIN, CaseTrigger.MESSAGE)


class InboxStatus(StrEnum):
    """A received Telegram update: waiting to be processed, processed, or parked for a person."""

    PENDING = "pending"
    DONE = "done"
    PARKED = "parked"


class PageStatus(StrEnum):
    SENT = "sent"
    FAILED = "failed"


class PageEventStatus(StrEnum):
    """An outbox event for a paging service or webhook (`PageEvent`)."""

    PENDING = "pending"  # waiting for its (next) attempt
    SENT = "sent"  # delivered
    FAILED = "failed"  # given up (refused for good, or out of attempts)


class PageEventAction(StrEnum):
    """What an outbox event asks the paging service to do with the case's incident."""

    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class MessageDirection(StrEnum):
    """A message of a case's thread (`CaseMessage`)."""

    TO_PATIENT = "to_patient"  # a clinician wrote to the patient through the bot
    FROM_PATIENT = "from_patient"  # the patient wrote while the case was open


class MessageStatus(StrEnum):
    SENT = "sent"  # delivered to the patient's chat
    FAILED = "failed"  # Telegram refused it (blocked, deactivated, …): call instead
    RECEIVED = "received"  # the patient's own message


class OutreachMethod(StrEnum):
    """How a clinician tried to reach the patient (CLINICAL.md §10)."""

    PHONE = "phone"
    TELEGRAM = "telegram"
    VIDEO = "video"
    IN_PERSON = "in_person"
    EMERGENCY_CONTACT = "emergency_contact"
    EMERGENCY_SERVICES = "emergency_services"


class OutreachOutcome(StrEnum):
    """What came of an outreach attempt; REACHED (or a stated reason) lets a case be resolved."""

    REACHED = "reached"
    NO_ANSWER = "no_answer"
    VOICEMAIL = "voicemail"
    WRONG_NUMBER = "wrong_number"
    REFUSED = "refused"
    EMERGENCY_SERVICES_DISPATCHED = "emergency_services_dispatched"
    REFERRED_TO_ED = "referred_to_ed"


class PlanEventKind(StrEnum):
    """What the patient did with their safety plan (CLINICAL.md §11)."""

    SHOWN = "shown"  # shown on a positive screen, or with /plan
    NEXT = "next"  # tapped Next step
    HELPED = "helped"  # tapped This helped
    CALL = "call"  # tapped Call <contact>


class CaringStatus(StrEnum):
    """A caring-contacts track (`CaringTrack`) or one of its messages (`CaringMessage`)."""

    ACTIVE = "active"  # a track still sending
    REPLACED = "replaced"  # a newer track started: the rest of this one is dropped
    STOPPED = "stopped"  # /stop, or the clinic stopped it
    DONE = "done"  # every message of the track went out (or was dropped)
    PENDING = "pending"  # a message waiting for its time
    SENT = "sent"
    DROPPED = "dropped"  # not sent: its track ended, or the patient is unreachable


class InfusionStatus(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"

    @property
    def may_change(self) -> bool:
        """Whether the infusion can still be moved or cancelled (a cancelled one is final)."""
        return self is InfusionStatus.ACTIVE


class InviteKind(StrEnum):
    PATIENT = "patient"
    CLINICIAN = "clinician"


class ShiftRole(StrEnum):
    PRIMARY = "primary"
    BACKUP = "backup"


class ShiftSource(StrEnum):
    COMMAND = "command"  # `aftercare oncall add`
    ROTATION = "rotation"  # the clinic file's weekly rotation
    BOT = "bot"  # /oncall in Telegram


class ManagedBy(StrEnum):
    """Which wins for a clinic's settings (`bot/services/clinic/settings.py`)."""

    FILE = "file"  # the clinic file, at every start; the console shows them read-only
    CONSOLE = "console"  # the newest version saved in the console


class SettingsSource(StrEnum):
    """Where a stored version of a clinic's settings came from."""

    FILE = "file"  # the clinic file, at a start
    CONSOLE = "console"  # saved in the console
    RESTORE = "restore"  # an earlier version saved again


class SessionEnd(StrEnum):
    """Why a console session ended before it expired."""

    SIGN_OUT = "sign-out"  # the clinician signed out in the browser
    ADMIN = "admin"  # an admin ended it (console or Telegram)
    TELEGRAM = "telegram"  # the clinician ended their own from Telegram
    DEACTIVATED = "deactivated"  # their registration was deactivated


class ActorKind(StrEnum):
    """Who did what, in the audit log."""

    PATIENT = "patient"
    CLINICIAN = "clinician"
    TRIAGE = "triage"
    DISPATCHER = "dispatcher"
    PAGER = "pager"
    BOT = "bot"
    CLI = "cli"
    CONFIG = "config"
    SYSTEM = "system"
    DEMO = "demo"
    BENCH = "bench"
    SERVICE = "service"  # a paging service (PagerDuty) reporting what happened to its incident


class Actor(str):
    """An audit actor, stored as text: `kind` or `kind:id` (e.g. `clinician:7`).

    A `str`, so rows and their hashes read exactly as before; built only from a known kind.
    """

    __slots__ = ()

    def __new__(cls, text: str) -> Actor:
        kind, _, ident = text.partition(":")
        ActorKind(kind)  # ValueError for an unknown kind
        if ident and not ident.isdigit():
            raise ValueError(f"actor id must be digits: {text!r}")
        return super().__new__(cls, text)

    @classmethod
    def of(cls, kind: ActorKind, ident: int | None = None) -> Actor:
        return cls(kind.value if ident is None else f"{kind.value}:{ident}")

    @property
    def kind(self) -> ActorKind:
        return ActorKind(self.partition(":")[0])

    @property
    def ident(self) -> int | None:
        ident = self.partition(":")[2]
        return int(ident) if ident else None

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(cls, core_schema.str_schema())


def patient_actor(patient_id: int | None) -> Actor:
    return Actor.of(ActorKind.PATIENT, patient_id)


def clinician_actor(clinician_id: int | None) -> Actor:
    return Actor.of(ActorKind.CLINICIAN, clinician_id)


TRIAGE = Actor.of(ActorKind.TRIAGE)
DISPATCHER = Actor.of(ActorKind.DISPATCHER)
PAGER = Actor.of(ActorKind.PAGER)
BOT = Actor.of(ActorKind.BOT)
CLI = Actor.of(ActorKind.CLI)
SERVICE = Actor.of(ActorKind.SERVICE)
