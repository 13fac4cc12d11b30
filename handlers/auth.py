"""Who may use a handler: the guard every clinician command shares."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram import CallbackQuery, Message, Update
from telegram.error import BadRequest, TelegramError

from bot.context import AftercareContext
from bot.i18n import C_, NC_, use_language
from bot.i18n.resolve import CLINICIANS
from storage.models import Clinician

log = logging.getLogger(__name__)

NOT_AUTHORISED = NC_("Not authorised: this command is for registered clinicians.")

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
            await message.reply_text(C_(NOT_AUTHORISED))
            return
        with use_language(CLINICIANS):  # a clinician is spoken to in English, a patient or not
            await handler(update, context, message, context.identity.clinicians[0])

    return guarded


async def answer_query(
    query: CallbackQuery, text: str | None = None, *, alert: bool = False
) -> None:
    """Answer a button press. Never fails its handler: the answer only stops the button's
    spinner, and the tap's effects (the stored answer, the next question) must go on whatever
    Telegram says (the rate limiter has already tried again after a 429, a 5xx or a timeout)."""
    try:
        await query.answer(text, show_alert=alert)
    except BadRequest as exc:
        too_old = ("query is too old", "query id is invalid")
        if any(words in exc.message.lower() for words in too_old):
            log.info("callback.too_old query=%s", query.id)
        else:
            log.warning("callback.answer_refused query=%s description=%s", query.id, exc.message)
    except TelegramError as exc:
        log.warning(
            "callback.answer_failed query=%s error=%s: %s", query.id, type(exc).__name__, exc
        )
