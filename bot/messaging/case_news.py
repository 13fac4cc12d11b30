"""What clinicians see change when a case is taken, closed, raised or re-opened: every page of
it says so, and everyone else who was paged is told who took it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot
from telegram.error import TelegramError

from bot.context import AppContext
from bot.domain.levels import Level
from bot.i18n import C_
from bot.messaging import pages
from bot.messaging.delivery import deliver_markup
from bot.services.case_facts import CaseNews, case_news
from bot.services.cases import ladder
from storage.models import Case, Clinician, Patient
from storage.states import CaseStatus

log = logging.getLogger(__name__)


async def tell_others(bot: Bot, news: CaseNews, *, taker_id: int | None, line: str) -> None:
    """Everyone paged for the case but the taker gets `line` (e.g. "Case #3 was acknowledged
    by Dr Ada."); one who cannot be reached is logged, never an error."""
    for other in news.others(taker_id):
        try:
            await bot.send_message(other.chat_id, line)
        except TelegramError as exc:
            log.warning(
                "case.notify_failed case=%s clinician=%s error=%s",
                news.case.id,
                other.id,
                exc.message,
            )


async def show_case_state(ctx: AppContext, bot: Bot, *, case_id: int) -> int:
    """Edit every delivered page of the case to show who took or closed it; returns how many
    messages were edited (see `edit_pages`)."""
    async with ctx.db.transaction() as session:
        news = await case_news(session, case_id=case_id)
    return 0 if news is None else await edit_pages(ctx, bot, news)


async def edit_pages(ctx: AppContext, bot: Bot, news: CaseNews) -> int:
    """Every delivered page of the case shows who took or closed it, keeping only the buttons
    that still make sense; returns how many messages were edited.

    For a case open again (raised, or re-opened after it was taken), the pages of its earlier
    ladder say so and lose their buttons: the newest page is the one to act on.
    """
    case, patient, sent = news.case, news.patient, news.to_edit
    if not sent or case.id is None:
        return 0
    reopened = case.status == CaseStatus.OPEN
    by_id = {i: c for i, c in news.people.items() if c.active}  # the deactivated: told no more
    clinic = ctx.clinic(case.clinic_id)
    text = pages.page_text(
        case=case,
        patient=patient,
        clinic=clinic,
        steps=ladder(clinic, Level(case.level)),
        checkin=news.checkin,
        now=ctx.clock.now(),
        status_line=_status_line(case, patient, by_id, ctx),
    )
    plain = pages.case_buttons(case.id, case.level, case.status, actions=not reopened)
    markup = pages.case_buttons(
        case.id,
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
                what=f"page_update case={case.id}",
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
    case: Case, patient: Patient, people: dict[int, Clinician], ctx: AppContext
) -> str:
    clinic = ctx.clinic(case.clinic_id)
    if case.status == CaseStatus.OPEN:
        return C_("↻ Raised or re-opened at {when}: see the newest page of this case.").format(
            when=pages.when(case.ladder_started_at, clinic, patient)
        )
    if case.status == CaseStatus.RESOLVED and case.resolved_at is not None:
        who = people.get(case.resolved_by) if case.resolved_by is not None else None
        note = (case.resolution_note or "")[:300]
        return C_("✓ Resolved by {name} at {when}: {note}").format(
            name=who.name if who else C_("the paging service"),
            when=pages.when(case.resolved_at, clinic, patient),
            note=note,
        )
    who = people.get(case.acknowledged_by) if case.acknowledged_by is not None else None
    at = case.acknowledged_at or ctx.clock.now()
    return C_("✓ Acknowledged by {name} at {when}. Re-paging has stopped.").format(
        name=who.name if who else C_("the paging service"), when=pages.when(at, clinic, patient)
    )
