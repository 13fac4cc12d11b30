"""Who may use a handler: the guard every clinician command shares."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram import CallbackQuery, Message, Update
from telegram.error import BadRequest

from bot.context import AftercareContext
from storage.models import Clinician

log = logging.getLogger(__name__)

NOT_AUTHORISED = "Not authorised: this command is for registered clinicians."

ClinicianHandler = Callable[[Update, AftercareContext, Message, Clinician], Awaitable[None]]
Handler = Callable[[Update, AftercareContext], Coroutine[Any, Any, None]]


def clinicians_only(handler: ClinicianHandler) -> Handler:
    """Run the handler for a registered clinician (their first clinic); anyone else is refused."""

    @functools.wraps(handler)
    async def guarded(update: Update, context: AftercareContext) -> None:
        message = update.effective_message
        if message is None:
            return
        if not context.identity.clinicians:
            await message.reply_text(NOT_AUTHORISED)
            return
        await handler(update, context, message, context.identity.clinicians[0])

    return guarded


async def answer_query(
    query: CallbackQuery, text: str | None = None, *, alert: bool = False
) -> None:
    """Answer a button press; a query Telegram no longer knows (too old) is not an error."""
    try:
        await query.answer(text, show_alert=alert)
    except BadRequest as exc:
        if "query is too old" not in exc.message.lower() and "query id is invalid" not in (
            exc.message.lower()
        ):
            raise
        log.info("callback.too_old query=%s", query.id)
