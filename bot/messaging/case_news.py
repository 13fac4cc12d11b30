"""What clinicians see change when a case is taken or closed: every page of it says so."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot
from telegram.error import TelegramError

from bot.context import AppContext
from bot.domain.levels import Level
from bot.messaging import pages
from bot.messaging.delivery import deliver_markup
from bot.services.case_facts import checkin_facts
from bot.services.cases import ladder
from storage.cases import get_case, pages_of
from storage.models import Case, Clinician, Patient
from storage.patients import get_patient
from storage.states import CaseStatus, PageStatus
from storage.views.reports import clinicians_by_ids

log = logging.getLogger(__name__)


async def announce_taken(
    ctx: AppContext, bot: Bot, *, case_id: int, by: Clinician, what: str
) -> None:
    """After a case was acknowledged or resolved (in Telegram or the console): every page of
    it says so, and everyone else who was paged is told who took it."""
    await show_case_state(ctx, bot, case_id=case_id)
    async with ctx.db.transaction() as session:
        case = await get_case(session, case_id=case_id)
        pages = await pages_of(session, case_id=case_id)
        others = await clinicians_by_ids(
            session, ids=sorted({p.clinician_id for p in pages if p.clinician_id != by.id})
        )
    if what.startswith("acknowledged") and case is not None and case.acknowledged_at:
        waited = (case.acknowledged_at - case.ladder_started_at).total_seconds()
        ctx.metrics.time_to_acknowledge.labels(level=case.level).observe(max(waited, 0.0))
    for other in others:
        try:
            await bot.send_message(other.chat_id, f"Case #{case_id} was {what} by {by.name}.")
        except TelegramError as exc:
            log.warning(
                "case.notify_failed case=%s clinician=%s error=%s", case_id, other.id, exc.message
            )


async def show_case_state(ctx: AppContext, bot: Bot, *, case_id: int) -> int:
    """Edit every delivered page of the case to show who took or closed it, keeping only the
    buttons that still make sense; returns how many messages were edited.

    For a case open again (raised, or re-opened after it was taken), the pages of its earlier
    ladder say so and lose their buttons: the newest page is the one to act on.
    """
    async with ctx.db.transaction() as session:
        case = await get_case(session, case_id=case_id)
        if case is None:
            return 0
        reopened = case.status == CaseStatus.OPEN
        patient = await get_patient(session, patient_id=case.patient_id)
        assert patient is not None
        sent = [
            p
            for p in await pages_of(session, case_id=case_id)
            if p.status == PageStatus.SENT
            and p.message_id is not None
            and (not reopened or p.sent_at < case.ladder_started_at)
        ]
        if not sent:
            return 0
        people = await clinicians_by_ids(
            session,
            ids=sorted(
                {p.clinician_id for p in sent}
                | {i for i in (case.acknowledged_by, case.resolved_by) if i is not None}
            ),
        )
        facts = await checkin_facts(session, checkin_id=case.checkin_id)
    by_id = {c.id: c for c in people if c.active}  # a deactivated clinician is told no more
    clinic = ctx.clinic(case.clinic_id)
    text = pages.page_text(
        case=case,
        patient=patient,
        clinic=clinic,
        steps=ladder(clinic, Level(case.level)),
        checkin=facts,
        now=ctx.clock.now(),
        status_line=_status_line(case, patient, by_id, ctx),
    )
    plain = pages.case_buttons(case_id, case.level, case.status, actions=not reopened)
    markup = pages.case_buttons(
        case_id,
        case.level,
        case.status,
        actions=not reopened,
        console_url=ctx.settings.console_url,
    )
    targets = {
        (by_id[p.clinician_id].chat_id, p.message_id) for p in sent if p.clinician_id in by_id
    }
    await asyncio.gather(
        *(
            deliver_markup(
                _editing(bot, text, chat, message),
                markup,
                plain,
                what=f"page_update case={case_id}",
            )
            for chat, message in targets
        )
    )
    return len(targets)


def _editing(
    bot: Bot, text: str, chat: int, message: int | None
) -> Callable[[Any], Awaitable[Any]]:
    return lambda markup: bot.edit_message_text(
        text, chat_id=chat, message_id=message, reply_markup=markup
    )


def _status_line(
    case: Case, patient: Patient, people: dict[int | None, Clinician], ctx: AppContext
) -> str:
    clinic = ctx.clinic(case.clinic_id)
    if case.status == CaseStatus.OPEN:
        return (
            f"↻ Raised or re-opened at {pages.when(case.ladder_started_at, clinic, patient)}: "
            "see the newest page of this case."
        )
    if case.status == CaseStatus.RESOLVED and case.resolved_at is not None:
        who = people.get(case.resolved_by)
        note = (case.resolution_note or "")[:300]
        return (
            f"✓ Resolved by {who.name if who else 'the paging service'} at "
            f"{pages.when(case.resolved_at, clinic, patient)}: {note}"
        )
    who = people.get(case.acknowledged_by)
    at = case.acknowledged_at or ctx.clock.now()
    return (
        f"✓ Acknowledged by {who.name if who else 'the paging service'} at "
        f"{pages.when(at, clinic, patient)}. Re-paging has stopped."
    )
