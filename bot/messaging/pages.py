"""How a page looks in Telegram: its text and its buttons (the pager decides who gets it).

Times are in the clinic's zone, with the patient's own beside them when it differs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import reduce
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.clinic_config import ClinicConfig
from bot.domain.escalation import Step
from bot.domain.levels import Level
from bot.i18n import C_, NC_, SOURCE, Cn_
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
WHO = {
    "primary": NC_("the primary"),
    "backup": NC_("the backup"),
    "everyone": NC_("every clinician"),
}
# The head of a page, one whole sentence a level (the level's name is a text too).
HEADS = {
    Level.HIGH: NC_("{icon} HIGH priority — case #{id}"),
    Level.MODERATE: NC_("{icon} MODERATE priority — case #{id}"),
    Level.LOW: NC_("{icon} LOW priority — case #{id}"),
    Level.NONE: NC_("{icon} NONE priority — case #{id}"),
}
# A level's name where a listing shows it ("HIGH").
LEVEL_NAMES = {
    Level.HIGH: NC_("HIGH"),
    Level.MODERATE: NC_("MODERATE"),
    Level.LOW: NC_("LOW"),
    Level.NONE: NC_("NONE"),
}
STATUS_NAMES = {
    CaseStatus.OPEN: NC_("open"),
    CaseStatus.ACKNOWLEDGED: NC_("acknowledged"),
    CaseStatus.RESOLVED: NC_("resolved"),
}

MESSAGE_DATA = "esc:msg:"  # + case id: the "Message patient" button (handlers/case_messages.py)


def level_name(level: str) -> str:
    """A level's name as a clinician reads it ("HIGH"); one not ours in capitals as it is."""
    known = {str(k): v for k, v in LEVEL_NAMES.items()}
    return C_(known[level.lower()]) if level.lower() in known else level.upper()


def page_summary(level: str, case_id: int | None, clinic: str) -> str:
    """The one line a paging service shows (never the patient's words)."""
    said = C_("{level} priority: Aftercare case #{id}, {clinic}")
    return said.format(level=level_name(level), id=case_id, clinic=clinic)


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
    ack = InlineKeyboardButton(C_("Acknowledge"), callback_data=f"esc:ack:{case_id}:{level}")
    res = InlineKeyboardButton(C_("Resolve"), callback_data=f"esc:res:{case_id}:{level}")
    if actions and status != CaseStatus.RESOLVED:
        rows.append([ack, res] if status == CaseStatus.OPEN else [res, log_button(case_id)])
        rows.append([_message(case_id)])
    if console_url:
        rows.append(
            [InlineKeyboardButton(C_("Open in console"), url=case_link(console_url, case_id))]
        )
    return InlineKeyboardMarkup(rows) if rows else None


def _message(case_id: int) -> InlineKeyboardButton:
    return InlineKeyboardButton(C_("Message patient"), callback_data=f"{MESSAGE_DATA}{case_id}")


def message_button(case_id: int, *, console_url: str | None = None) -> InlineKeyboardMarkup:
    """Under a patient's reply passed to a clinician: answer them, or open the case."""
    rows = [[_message(case_id)]]
    if console_url:
        rows.append(
            [InlineKeyboardButton(C_("Open in console"), url=case_link(console_url, case_id))]
        )
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
    return [C_("Patient reads {language}.").format(language=language_label(language))]


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
        who = C_("{name} ({ref})").format(name=patient.display_name, ref=patient.ref)
    lines = [
        C_(HEADS[level]).format(icon=ICON[level], id=case.id),
        C_("Patient: {who}").format(who=who),
        *reads_line(patient, clinic),
        C_("Why:"),
        *reasons_in(case.reason, clinic),
    ]
    if case.quote:
        lines.append(C_("Patient wrote: «{quote}»").format(quote=case.quote[:MAX_QUOTE]))
    if checkin is not None:
        lines.extend(_checkin_lines(checkin, patient, clinic))
    if level is Level.HIGH:
        lines.append(
            C_("A human should reach this patient within {duration} at most.").format(
                duration=duration(clinic.escalation.human_contact_within)
            )
        )
    tail: list[str] = []  # what to do now: kept whole however long the reasons are
    if status_line is not None:
        tail.append(status_line)
    elif case.step > 0 or (so_far is not None and so_far.again):
        tail.extend(_repage(case, so_far or LadderSoFar(first_at=case.ladder_started_at), now))
        tail.append(_next(next_rung, clinic, patient))
    elif len(steps) > 1 and isinstance(steps[1].after, timedelta):
        tail.append(C_("Acknowledge within {duration}.").format(duration=duration(steps[1].after)))
    end = "\n".join(tail)
    body = "\n".join(lines)[: MAX_TEXT - len(end) - 2]
    return f"{body}\n{end}" if end else body


def _repage(case: Case, so_far: LadderSoFar, now: datetime) -> list[str]:
    """Why this rung pages, in what is true: never "nobody acknowledged" for a page nobody got."""
    step = case.step + 1
    ago = duration(now - so_far.first_at) if so_far.first_at is not None else None
    if so_far.again:
        head = C_("Paged again (step {step}): news on this case (its last line above).")
    elif so_far.reached:
        count = len(so_far.reached)
        head = (
            Cn_(
                "Re-page (step {step}): {names} was paged and nobody has acknowledged.",
                "Re-page (step {step}): {names} were paged and nobody has acknowledged.",
                count,
            )
            if ago is None
            else Cn_(
                "Re-page (step {step}): {names} was paged {ago} ago and nobody has acknowledged.",
                "Re-page (step {step}): {names} were paged {ago} ago and nobody has acknowledged.",
                count,
            )
        )
    elif so_far.failed:
        head = C_(
            "Re-page (step {step}): no earlier page could be delivered, so this step comes now."
        )
    elif ago is None:
        head = C_("Re-page (step {step}): nobody has acknowledged since the first page.")
    else:
        head = C_("Re-page (step {step}): nobody has acknowledged since the first page {ago} ago.")
    lines = [
        head.format(step=step, names=_names(so_far.reached) if so_far.reached else "", ago=ago)
    ]
    if so_far.failed:
        pages = ", ".join(C_("the page to {name}").format(name=name) for name in so_far.failed)
        lines.append(C_("Could not be delivered: {pages}.").format(pages=pages))
    if so_far.paged_now:
        lines.append(C_("Paged now: {names}.").format(names=_names(so_far.paged_now)))
    return lines


def _names(names: tuple[str, ...]) -> str:
    if len(names) == 1:
        return names[0]
    return C_("{names} and {last}").format(names=", ".join(names[:-1]), last=names[-1])


def _and(names: list[str]) -> str:
    """ "a and b and c": each joined to the next."""
    return reduce(lambda done, name: C_("{names} and {last}").format(names=done, last=name), names)


def _next(rung: NextRung | None, clinic: ClinicConfig, patient: Patient) -> str:
    if rung is None:
        return C_("This page repeats until someone acknowledges.")
    names = _and([C_(WHO[n]) if n in WHO else n for n in rung.notify])
    return C_("If nobody acknowledges, {names} will be paged at {when}.").format(
        names=names, when=when(rung.at, clinic, patient)
    )


def _checkin_lines(facts: CheckinFacts, patient: Patient, clinic: ClinicConfig) -> list[str]:
    checkin, answers, infusion = facts.checkin, facts.answers, facts.infusion
    lines = []
    if "mood" in answers:
        lines.append(
            C_("Mood: {mood}/10").format(mood=answers["mood"])
            if patient.baseline_mood is None
            else C_("Mood: {mood}/10 (baseline {baseline})").format(
                mood=answers["mood"], baseline=patient.baseline_mood
            )
        )
    shown = [f"{k.upper()}={v}" for k, v in answers.items() if k not in ("mood", "note")]
    if shown:
        lines.append(C_("Answers: {answers}").format(answers=", ".join(shown)))
    due = when(checkin.due_at, clinic, patient)
    if infusion is None:
        where = C_("Check-in #{id} ({kind}, due {due})").format(
            id=checkin.id, kind=checkin.kind, due=due
        )
    else:
        where = C_("Check-in #{id} ({kind}, due {due}), infusion #{infusion} ended {ended}").format(
            id=checkin.id,
            kind=checkin.kind,
            due=due,
            infusion=infusion.id,
            ended=when(infusion.ended_at, clinic, patient),
        )
    lines.append(where)
    return lines


def duration(delta: timedelta) -> str:
    """'45 s', '5 min', '4 h': how a clinician reads a wait."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return C_("{n} s").format(n=int(delta.total_seconds()))
    if minutes < 120:
        return C_("{n} min").format(n=minutes)
    return C_("{n} h").format(n=minutes // 60)
