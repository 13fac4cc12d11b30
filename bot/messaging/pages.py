"""How a page looks in Telegram: its text and its buttons (the pager decides who gets it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.clinic_config import ClinicConfig
from bot.domain.escalation import Step
from bot.domain.levels import Level
from storage.models import Case, Checkin, Infusion, Patient

ICON = {Level.HIGH: "🔴", Level.MODERATE: "🟠", Level.LOW: "🟡", Level.NONE: "⚪"}
MAX_TEXT = 4000  # under Telegram's 4,096 characters
MAX_QUOTE = 1500


def case_buttons(case_id: int, level: str) -> InlineKeyboardMarkup:
    """The page's buttons carry the level they were sent for: a raised case needs a new look."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Acknowledge", callback_data=f"esc:ack:{case_id}:{level}"),
                InlineKeyboardButton("Resolve", callback_data=f"esc:res:{case_id}:{level}"),
            ]
        ]
    )


@dataclass(frozen=True)
class CheckinFacts:
    """The check-in behind a case, as the page shows it."""

    checkin: Checkin
    answers: dict[str, str]
    infusion: Infusion | None


def page_text(
    *,
    case: Case,
    patient: Patient,
    clinic: ClinicConfig,
    steps: list[Step],
    checkin: CheckinFacts | None,
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
        "Why:",
        case.reason,
    ]
    if case.quote:
        lines.append(f"Patient wrote: «{case.quote[:MAX_QUOTE]}»")
    if checkin is not None:
        lines.extend(_checkin_lines(checkin, patient))
    if len(steps) > 1 and isinstance(steps[1].after, timedelta):
        lines.append(f"Acknowledge within {duration(steps[1].after)}.")
    if level is Level.HIGH:
        lines.append(
            "A human should reach this patient within "
            f"{duration(clinic.escalation.human_contact_within)} at most."
        )
    if case.step > 0:
        lines.append(f"Re-page (step {case.step + 1}): nobody has acknowledged yet.")
    return "\n".join(lines)[:MAX_TEXT]


def _checkin_lines(facts: CheckinFacts, patient: Patient) -> list[str]:
    checkin, answers, infusion = facts.checkin, facts.answers, facts.infusion
    zone = ZoneInfo(patient.timezone)
    lines = []
    if "mood" in answers:
        baseline = (
            f" (baseline {patient.baseline_mood})" if patient.baseline_mood is not None else ""
        )
        lines.append(f"Mood: {answers['mood']}/10{baseline}")
    shown = [f"{k.upper()}={v}" for k, v in answers.items() if k not in ("mood", "note")]
    if shown:
        lines.append("Answers: " + ", ".join(shown))
    due = checkin.due_at.astimezone(zone)
    where = f"Check-in #{checkin.id} ({checkin.kind}, due {due:%a %d %b %H:%M %Z})"
    if infusion is not None:
        where += (
            f", infusion #{infusion.id} ended {infusion.ended_at.astimezone(zone):%a %d %b %H:%M}"
        )
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
