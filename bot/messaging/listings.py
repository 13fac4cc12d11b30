"""Case and patient listings as clinicians read them in Telegram (pure): /open, /patients,
/history and /contact, from the read services the console uses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.clinic_config import ClinicConfig
from bot.domain import checkin_flow
from bot.i18n import C_
from bot.messaging.clinic_time import when
from bot.messaging.pages import ICON, LEVEL_NAMES, STATUS_NAMES, duration, reasons_in
from bot.services.case_queue import CaseCard, arrival_order
from bot.services.overview import PatientRow
from bot.services.reaching.contact_details import ContactDetails
from bot.services.timeline import MessageEntry, RecentHistory
from storage.models import Case
from storage.states import CaseStatus
from storage.views.queue import CaseRow

MAX_TEXT = 4000
MAX_REASONS = 4
MAX_NAMES = 8


def main_reasons(case: Case | CaseRow, clinic: ClinicConfig) -> list[str]:
    """Each distinct reason once, oldest first, without its time stamp; the rest counted."""
    seen: list[str] = []
    for line in reasons_in(case.reason, clinic):
        words = line.split("] ", 1)[-1] if line.startswith("[") else line
        if words not in seen:
            seen.append(words)
    if len(seen) <= MAX_REASONS:
        return seen
    return [
        *seen[: MAX_REASONS - 1],
        C_("… and {count} more").format(count=len(seen) - MAX_REASONS + 1),
        seen[-1],
    ]


def case_summary(card: CaseCard, clinic: ClinicConfig, now: datetime) -> str:
    """One case of /open: reference, level, status and age; why; who was paged."""
    case, level = card.case, card.level
    status = STATUS_NAMES.get(CaseStatus(case.status), case.status)
    head = C_("#{id} {icon} {level} {status} · {age} · {ref}").format(
        id=case.id,
        icon=ICON[level],
        level=C_(LEVEL_NAMES[level]),
        status=C_(status),
        age=duration(now - case.opened_at),
        ref=card.patient.ref,
    )
    paged: dict[str, bool] = {}
    for page in card.pages:
        paged[page.clinician] = paged.get(page.clinician, False) or page.delivered
    shown = [
        f"{n} ✓" if ok else C_("{name} ✗ not delivered").format(name=n) for n, ok in paged.items()
    ]
    if len(shown) > MAX_NAMES:
        shown = [*shown[:MAX_NAMES], C_("and {count} more").format(count=len(shown) - MAX_NAMES)]
    who = ", ".join(shown) if shown else C_("nobody yet (care-team queue)")
    why = "; ".join(main_reasons(case, clinic))[:600]
    return C_("{head}\n  Why: {why}\n  Paged: {who}").format(head=head, why=why, who=who)


def open_cases_text(cards: Sequence[CaseCard], *, clinic: ClinicConfig, now: datetime) -> str:
    """/open: the clinic's unresolved cases, oldest first, as many as fit."""
    if not cards:
        return C_("No open cases.")
    blocks = [case_summary(card, clinic, now) for card in sorted(cards, key=arrival_order)]
    return fit(
        blocks, header=C_("Open cases of {clinic}, oldest first:").format(clinic=clinic.name)
    )


def patients_text(rows: Sequence[PatientRow], *, clinic: ClinicConfig) -> str:
    """/patients: each patient with last check-in, last mood and current risk."""
    if not rows:
        return C_("No patients yet.")
    out = []
    for row in rows:
        last = (
            f"{when(row.last_checkin.sent_at, clinic, row)} {row.last_checkin.status}"
            if row.last_checkin
            else C_("no check-in yet")
        )
        mood = (
            C_("mood {mood}/10").format(mood=row.last_mood)
            if row.last_mood is not None
            else C_("no mood yet")
        )
        risk = (
            C_("open {level}").format(level=row.open_case.level)
            if row.open_case
            else C_("no open case")
        )
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
    baseline = patient.baseline_mood if patient.baseline_mood is not None else C_("unset")
    out = [
        C_("{ref}: baseline {baseline}; mood trend (oldest→newest): {trend}").format(
            ref=patient.ref, baseline=baseline, trend=" → ".join(moods) or C_("none")
        )
    ]
    for checkin in history.checkins:
        shown = ", ".join(f"{a.item_id}={a.value}" for a in checkin.answers)
        out.append(
            C_("{when} {kind} {status} risk {risk}: {answers}").format(
                when=when(checkin.due_at, clinic, patient),
                kind=checkin.checkin_kind,
                status=checkin.status,
                risk=checkin.risk_level,
                answers=shown or C_("no answers"),
            )
        )
    if history.messages:
        out.append(C_("Messages (newest first):"))
        out.extend(
            f"{when(m.at, clinic, patient)} «{m.text[:300]}»"
            if isinstance(m, MessageEntry)
            else C_("{when} late {answer}").format(
                when=when(m.at, clinic, patient), answer=f"{m.answer.item_id}={m.answer.value}"
            )
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
    return C_("… and {count} more not shown (oldest are listed first).").format(count=count)


def contact_text(details: ContactDetails) -> str:
    """/contact REF: the patient's phone and emergency contact, and their time of day now."""

    def number(entered: str | None, e164: str | None) -> str:
        if not entered:
            return C_("not recorded")
        return entered if e164 in (None, entered) else f"{entered} ({e164})"

    lines = [
        C_("{ref}: it is {time} for the patient ({zone}).").format(
            ref=details.ref, time=details.local_time, zone=details.timezone
        ),
        C_("Phone: {phone}").format(phone=number(details.phone, details.phone_e164)),
    ]
    if details.has_emergency:
        relation = f" ({details.emergency_relation})" if details.emergency_relation else ""
        phone = number(details.emergency_phone, details.emergency_phone_e164)
        lines.append(
            C_("Emergency contact: {name}{relation}: {phone}").format(
                name=details.emergency_name, relation=relation, phone=phone
            )
        )
    elif details.emergency_note:
        lines.append(
            C_("Emergency contact (as written at enrollment): {note}").format(
                note=details.emergency_note
            )
        )
    else:
        lines.append(C_("Emergency contact: not recorded"))
    lines.append(C_("To change them: the patient's page in the console (/console)."))
    return "\n".join(lines)[:MAX_TEXT]
