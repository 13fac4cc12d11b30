"""How a page looks in Telegram: its text and its buttons (the pager decides who gets it).

Times are in the clinic's zone, with the patient's own beside them when it differs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.clinic_config import ClinicConfig
from bot.domain.escalation import Step
from bot.domain.levels import Level
from bot.i18n import SOURCE
from bot.i18n.names import language_label
from bot.i18n.resolve import patient_language
from bot.messaging.clinic_time import when
from bot.messaging.outreach_buttons import log_button
from bot.services.case_facts import CheckinFacts
from storage.models import Case, Patient
from storage.states import CaseStatus

ICON = {Level.HIGH: "🔴", Level.MODERATE: "🟠", Level.LOW: "🟡", Level.NONE: "⚪"}
MAX_TEXT = 4000  # under Telegram's 4,096 characters
MAX_QUOTE = 1500
_STAMP = re.compile(r"\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}) UTC\] ")  # how reasons are stored
WHO = {"primary": "the primary", "backup": "the backup", "everyone": "every clinician"}
MESSAGE_DATA = "esc:msg:"  # + case id: the "Message patient" button (handlers/case_messages.py)


def case_buttons(
    case_id: int,
    level: str,
    status: str = CaseStatus.OPEN,
    *,
    console_url: str | None = None,
    actions: bool = True,
) -> InlineKeyboardMarkup | None:
    """The buttons that still make sense: both while open, Resolve and Log contact once taken,
    none once closed or when `actions` is off (None: an edit without markup takes the keyboard
    away); Message patient under them while unresolved; with a console, an "Open in console"
    link to the case below them.

    They carry the level they were sent for: a raised case needs a new look.
    """
    rows: list[list[InlineKeyboardButton]] = []
    ack = InlineKeyboardButton("Acknowledge", callback_data=f"esc:ack:{case_id}:{level}")
    res = InlineKeyboardButton("Resolve", callback_data=f"esc:res:{case_id}:{level}")
    if actions and status != CaseStatus.RESOLVED:
        rows.append([ack, res] if status == CaseStatus.OPEN else [res, log_button(case_id)])
        rows.append([_message(case_id)])
    if console_url:
        rows.append([InlineKeyboardButton("Open in console", url=case_link(console_url, case_id))])
    return InlineKeyboardMarkup(rows) if rows else None


def _message(case_id: int) -> InlineKeyboardButton:
    return InlineKeyboardButton("Message patient", callback_data=f"{MESSAGE_DATA}{case_id}")


def message_button(case_id: int, *, console_url: str | None = None) -> InlineKeyboardMarkup:
    """Under a patient's reply passed to a clinician: answer them, or open the case."""
    rows = [[_message(case_id)]]
    if console_url:
        rows.append([InlineKeyboardButton("Open in console", url=case_link(console_url, case_id))])
    return InlineKeyboardMarkup(rows)


def case_link(console_url: str, case_id: int) -> str:
    return f"{console_url}/cases/{case_id}"


@dataclass(frozen=True)
class NextRung:
    """What happens if nobody acknowledges: who is paged next, and when."""

    at: datetime
    notify: tuple[str, ...]


@dataclass(frozen=True)
class LadderSoFar:
    """What this ladder's earlier pages did, for a re-page's words (names with their channel,
    "Dr Ada (Telegram)"): whom they reached, which could not be delivered, and who is paged now.
    `again`: this rung pages a second time, because of news on the case."""

    first_at: datetime | None = None
    reached: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    paged_now: tuple[str, ...] = ()
    again: bool = False


def reasons_in(reason: str, clinic: ClinicConfig) -> list[str]:
    """A case's reason lines with their UTC stamps shown in the clinic's zone."""
    return reason_lines(reason, clinic.zone)


def reason_lines(reason: str, zone: ZoneInfo) -> list[str]:
    """A case's reason lines with their UTC stamps shown in `zone`."""

    def local(match: re.Match[str]) -> str:
        stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        return f"[{stamp.astimezone(zone):%a %d %b %H:%M %Z}] "

    return [_STAMP.sub(local, line) for line in reason.splitlines() if line.strip()]


def reads_line(patient: Patient, clinic: ClinicConfig) -> list[str]:
    """'Patient reads Spanish (es).' when the patient is spoken to in another language than
    English (issue 29): the clinician knows what the patient read before they call."""
    language = patient_language(patient, clinic.language)
    if language == SOURCE:
        return []
    return [f"Patient reads {language_label(language)}."]


def page_text(
    *,
    case: Case,
    patient: Patient,
    clinic: ClinicConfig,
    steps: list[Step],
    checkin: CheckinFacts | None,
    now: datetime,
    next_rung: NextRung | None = None,
    status_line: str | None = None,
    so_far: LadderSoFar | None = None,
) -> str:
    """Priority, case, who (pseudonymous unless the clinic opts in), why, and what to do."""
    assert case.id is not None
    level = Level(case.level)
    who = patient.ref
    if clinic.alerts_include_name and patient.display_name:
        who = f"{patient.display_name} ({patient.ref})"
    lines = [
        f"{ICON[level]} {level.value.upper()} priority — case #{case.id}",
        f"Patient: {who}",
        *reads_line(patient, clinic),
        "Why:",
        *reasons_in(case.reason, clinic),
    ]
    if case.quote:
        lines.append(f"Patient wrote: «{case.quote[:MAX_QUOTE]}»")
    if checkin is not None:
        lines.extend(_checkin_lines(checkin, patient, clinic))
    if level is Level.HIGH:
        lines.append(
            "A human should reach this patient within "
            f"{duration(clinic.escalation.human_contact_within)} at most."
        )
    tail: list[str] = []  # what to do now: kept whole however long the reasons are
    if status_line is not None:
        tail.append(status_line)
    elif case.step > 0 or (so_far is not None and so_far.again):
        tail.extend(_repage(case, so_far or LadderSoFar(first_at=case.ladder_started_at), now))
        tail.append(_next(next_rung, clinic, patient))
    elif len(steps) > 1 and isinstance(steps[1].after, timedelta):
        tail.append(f"Acknowledge within {duration(steps[1].after)}.")
    end = "\n".join(tail)
    body = "\n".join(lines)[: MAX_TEXT - len(end) - 2]
    return f"{body}\n{end}" if end else body


def _repage(case: Case, so_far: LadderSoFar, now: datetime) -> list[str]:
    """Why this rung pages, in what is true: never "nobody acknowledged" for a page nobody got."""
    step = f"step {case.step + 1}"
    ago = f" {duration(now - so_far.first_at)} ago" if so_far.first_at is not None else ""
    if so_far.again:
        head = f"Paged again ({step}): news on this case (its last line above)."
    elif so_far.reached:
        head = (
            f"Re-page ({step}): {_names(so_far.reached)} "
            f"{'was' if len(so_far.reached) == 1 else 'were'} paged{ago} "
            "and nobody has acknowledged."
        )
    elif so_far.failed:
        head = f"Re-page ({step}): no earlier page could be delivered, so this step comes now."
    else:
        head = f"Re-page ({step}): nobody has acknowledged since the first page{ago}."
    lines = [head]
    if so_far.failed:
        pages = ", ".join(f"the page to {name}" for name in so_far.failed)
        lines.append(f"Could not be delivered: {pages}.")
    if so_far.paged_now:
        lines.append(f"Paged now: {_names(so_far.paged_now)}.")
    return lines


def _names(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _next(rung: NextRung | None, clinic: ClinicConfig, patient: Patient) -> str:
    if rung is None:
        return "This page repeats until someone acknowledges."
    names = " and ".join(WHO.get(n, n) for n in rung.notify)
    return f"If nobody acknowledges, {names} will be paged at {when(rung.at, clinic, patient)}."


def _checkin_lines(facts: CheckinFacts, patient: Patient, clinic: ClinicConfig) -> list[str]:
    checkin, answers, infusion = facts.checkin, facts.answers, facts.infusion
    lines = []
    if "mood" in answers:
        baseline = (
            f" (baseline {patient.baseline_mood})" if patient.baseline_mood is not None else ""
        )
        lines.append(f"Mood: {answers['mood']}/10{baseline}")
    shown = [f"{k.upper()}={v}" for k, v in answers.items() if k not in ("mood", "note")]
    if shown:
        lines.append("Answers: " + ", ".join(shown))
    where = f"Check-in #{checkin.id} ({checkin.kind}, due {when(checkin.due_at, clinic, patient)})"
    if infusion is not None:
        where += f", infusion #{infusion.id} ended {when(infusion.ended_at, clinic, patient)}"
    lines.append(where)
    return lines


def duration(delta: timedelta) -> str:
    """'45 s', '5 min', '4 h': how a clinician reads a wait."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return f"{int(delta.total_seconds())} s"
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h"
