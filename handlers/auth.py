"""Who may use a handler: the guard every clinician command shares."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram import Message, Update

from bot.context import AftercareContext
from bot.i18n import C_, NC_, use_language
from bot.i18n.resolve import CLINICIANS
from storage.models import Clinician

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
