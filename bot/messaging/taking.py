"""Taking a case, for every front end: Telegram's buttons and commands, the console, an
e-mailed acknowledge link and a paging service's webhook all call `take_case`.

One transaction (the front end's own, e.g. a Telegram update's `effects()`): whatever admits
the taker (a spent link, a webhook's receipt), the service's `take`, and the facts the pages
need. After the commit: the time-to-acknowledge metric, every page of the case edited, and
everyone else who was paged told who took it. Telling is best effort: the case is taken already,
so a Telegram failure is logged, never shown as the taker's error.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot

from bot.context import AppContext
from bot.i18n import C_, NC_
from bot.messaging.case_news import edit_pages, tell_others
from bot.messaging.case_thread import tell_thread_closed
from bot.services.case_facts import CaseNews, case_news
from bot.services.case_taking import CaseAction, Taken, TakeOutcome, Taker, TakeRequest, take
from bot.services.messages import ThreadClosed, close_thread

log = logging.getLogger(__name__)

R = TypeVar("R")
Transaction = Callable[[], AbstractAsyncContextManager[AsyncSession]]


Admit = Callable[[AsyncSession], Awaitable[TakeRequest | R]]


async def take_case(
    ctx: AppContext,
    bot: Bot,
    request: TakeRequest | Admit[R],
    *,
    transaction: Transaction | None = None,
    defer: Callable[[Awaitable[None]], None] | None = None,
) -> Taken | R:
    """Take a case and tell everyone. `request` may be a function that admits the taker in the
    transaction (spending a link, recording a webhook): it returns the request, or its own
    answer (returned as it is, nothing taken). `defer`: the telling is handed to it instead of
    awaited (an HTTP answer that must not wait on Telegram)."""
    news: CaseNews | None = None
    closed: ThreadClosed | None = None
    async with (transaction or ctx.db.transaction)() as session:
        asked = request if isinstance(request, TakeRequest) else await request(session)
        if not isinstance(asked, TakeRequest):
            return asked
        taken = await take(
            session,
            case_id=asked.case_id,
            by=asked.by,
            action=asked.action,
            note=asked.note,
            seen_level=asked.seen_level,
            seen_when=asked.seen_when,
            not_reached=asked.not_reached,
            clinic_of=ctx.clinic,
            now=ctx.clock.now(),
        )
        if asked.then is not None:
            await asked.then(session, taken)
        if taken.outcome is TakeOutcome.DONE:
            news = await case_news(session, case_id=asked.case_id)
            if taken.action is CaseAction.RESOLVE and taken.case is not None:
                closed = await close_thread(session, case=taken.case, now=ctx.clock.now())
    if news is not None:
        _observe(ctx, taken)
        telling = _tell(ctx, bot, news, taken, asked.by, closed)
        if defer is not None:
            defer(telling)
        else:
            await telling
    return taken


def _observe(ctx: AppContext, taken: Taken) -> None:
    """Time to acknowledge, from the ladder's start, on any channel."""
    case = taken.case
    if taken.action is CaseAction.ACKNOWLEDGE and case is not None and case.acknowledged_at:
        waited = (case.acknowledged_at - case.ladder_started_at).total_seconds()
        ctx.metrics.time_to_acknowledge.labels(level=case.level).observe(max(waited, 0.0))


async def _tell(
    ctx: AppContext,
    bot: Bot,
    news: CaseNews,
    taken: Taken,
    by: Taker,
    closed: ThreadClosed | None = None,
) -> None:
    """Every page of the case says it was taken or closed; the others paged are told by whom;
    a patient written to in the case is told its thread closed (`services.messages`)."""
    if closed is not None:
        await tell_thread_closed(ctx, bot, closed)
    name = taken.by.name if taken.by is not None else by.name
    line = _taken_line(news.case.id, taken.action, by.via, name)
    try:
        await edit_pages(ctx, bot, news)
        await tell_others(bot, news, taker_id=taken.by.id if taken.by else None, line=line)
    except Exception:  # the case is taken already; a page left unedited is only cosmetic
        log.exception("case.announce_failed case=%s", news.case.id)


# "Case #3 was acknowledged by Dr Ada.": one whole sentence an action, with or without a service
_TAKEN = {
    (CaseAction.ACKNOWLEDGE, False): NC_("Case #{id} was acknowledged by {name}."),
    (CaseAction.ACKNOWLEDGE, True): NC_("Case #{id} was acknowledged in {service} by {name}."),
    (CaseAction.RESOLVE, False): NC_("Case #{id} was resolved by {name}."),
    (CaseAction.RESOLVE, True): NC_("Case #{id} was resolved in {service} by {name}."),
}


def _taken_line(case_id: int | None, action: CaseAction, via: str | None, name: str) -> str:
    said = C_(_TAKEN[(action, bool(via))])
    return said.format(id=case_id, service=_service_name(via or ""), name=name)


def _service_name(via: str) -> str:
    return {"pagerduty": "PagerDuty"}.get(via, via)


async def run_all(work: list[Awaitable[None]]) -> None:
    """Run deferred telling one after another (a background task's body)."""
    for item in work:
        await item
