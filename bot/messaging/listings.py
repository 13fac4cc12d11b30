"""Case and patient listings as clinicians read them in Telegram (pure): /open, /patients,
/history and /contact, from the read services the console uses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.clinic_config import ClinicConfig
from bot.domain import checkin_flow
from bot.messaging.clinic_time import when
from bot.messaging.pages import ICON, duration, reasons_in
from bot.services.case_queue import CaseCard, arrival_order
from bot.services.overview import PatientRow
from bot.services.reaching.contact_details import ContactDetails
from bot.services.timeline import MessageEntry, RecentHistory
from storage.models import Case

MAX_TEXT = 4000
MAX_REASONS = 4
MAX_NAMES = 8


def main_reasons(case: Case, clinic: ClinicConfig) -> list[str]:
    """Each distinct reason once, oldest first, without its time stamp; the rest counted."""
    seen: list[str] = []
    for line in reasons_in(case.reason, clinic):
        words = line.split("] ", 1)[-1] if line.startswith("[") else line
        if words not in seen:
            seen.append(words)
    if len(seen) <= MAX_REASONS:
        return seen
    return [*seen[: MAX_REASONS - 1], f"… and {len(seen) - MAX_REASONS + 1} more", seen[-1]]


def case_summary(card: CaseCard, clinic: ClinicConfig, now: datetime) -> str:
    """One case of /open: reference, level, status and age; why; who was paged."""
    case, level = card.case, card.level
    head = (
        f"#{case.id} {ICON[level]} {level.value.upper()} {case.status} · "
        f"{duration(now - case.opened_at)} · {card.patient.ref}"
    )
    paged: dict[str, bool] = {}
    for page in card.pages:
        paged[page.clinician] = paged.get(page.clinician, False) or page.delivered
    shown = [f"{n} {'✓' if ok else '✗ not delivered'}" for n, ok in paged.items()]
    if len(shown) > MAX_NAMES:
        shown = [*shown[:MAX_NAMES], f"and {len(shown) - MAX_NAMES} more"]
    who = ", ".join(shown) if shown else "nobody yet (care-team queue)"
    why = "; ".join(main_reasons(case, clinic))[:600]
    return f"{head}\n  Why: {why}\n  Paged: {who}"


def open_cases_text(cards: Sequence[CaseCard], *, clinic: ClinicConfig, now: datetime) -> str:
    """/open: the clinic's unresolved cases, oldest first, as many as fit."""
    if not cards:
        return "No open cases."
    blocks = [case_summary(card, clinic, now) for card in sorted(cards, key=arrival_order)]
    return fit(blocks, header=f"Open cases of {clinic.name}, oldest first:")


def patients_text(rows: Sequence[PatientRow], *, clinic: ClinicConfig) -> str:
    """/patients: each patient with last check-in, last mood and current risk."""
    if not rows:
        return "No patients yet."
    out = []
    for row in rows:
        last = (
            f"{when(row.last_checkin.sent_at, clinic, row)} {row.last_checkin.status}"
            if row.last_checkin
            else "no check-in yet"
        )
        mood = f"mood {row.last_mood}/10" if row.last_mood is not None else "no mood yet"
        risk = f"open {row.open_case.level}" if row.open_case else "no open case"
        out.append(f"{row.ref} ({row.status}): {last}; {mood}; {risk}")
    return "\n".join(out)[:MAX_TEXT]


def history_text(history: RecentHistory, *, clinic: ClinicConfig) -> str:
    """/history REF: recent check-ins and their answers, the mood trend, typed messages."""
    patient = history.patient
    moods = [
        a.value
        for checkin in reversed(history.checkins)
        for a in checkin.answers
        if a.item_id == checkin_flow.MOOD
    ]
    baseline = patient.baseline_mood if patient.baseline_mood is not None else "unset"
    out = [
        f"{patient.ref}: baseline {baseline}; mood trend (oldest→newest): "
        f"{' → '.join(moods) or 'none'}"
    ]
    for checkin in history.checkins:
        shown = ", ".join(f"{a.item_id}={a.value}" for a in checkin.answers)
        out.append(
            f"{when(checkin.due_at, clinic, patient)} {checkin.checkin_kind} "
            f"{checkin.status} risk {checkin.risk_level}: {shown or 'no answers'}"
        )
    if history.messages:
        out.append("Messages (newest first):")
        out.extend(
            f"{when(m.at, clinic, patient)} «{m.text[:300]}»"
            if isinstance(m, MessageEntry)
            else f"{when(m.at, clinic, patient)} late {m.answer.item_id}={m.answer.value}"
            for m in history.messages
        )
    return "\n".join(out)[:MAX_TEXT]


def fit(blocks: Sequence[str], *, header: str, limit: int = MAX_TEXT) -> str:
    """As many whole blocks as fit in one message, and how many did not."""
    out, size = [header], len(header)
    for index, block in enumerate(blocks):
        left_after = len(blocks) - index - 1
        room_needed = len(block) + 2 + (len(_more(left_after)) + 2 if left_after else 0)
        if size + room_needed > limit:
            out.append(_more(len(blocks) - index))
            break
        out.append(block)
        size += len(block) + 2
    return "\n\n".join(out)


def _more(count: int) -> str:
    return f"… and {count} more not shown (oldest are listed first)."


def contact_text(details: ContactDetails) -> str:
    """/contact REF: the patient's phone and emergency contact, and their time of day now."""

    def number(entered: str | None, e164: str | None) -> str:
        if not entered:
            return "not recorded"
        return entered if e164 in (None, entered) else f"{entered} ({e164})"

    lines = [
        f"{details.ref}: it is {details.local_time} for the patient ({details.timezone}).",
        f"Phone: {number(details.phone, details.phone_e164)}",
    ]
    if details.has_emergency:
        relation = f" ({details.emergency_relation})" if details.emergency_relation else ""
        phone = number(details.emergency_phone, details.emergency_phone_e164)
        lines.append(f"Emergency contact: {details.emergency_name}{relation}: {phone}")
    elif details.emergency_note:
        lines.append(f"Emergency contact (as written at enrollment): {details.emergency_note}")
    else:
        lines.append("Emergency contact: not recorded")
    lines.append("To change them: the patient's page in the console (/console).")
    return "\n".join(lines)[:MAX_TEXT]
