"""The language an update is answered in (issue 29), and /language, the patient's own choice.

Every handler runs inside `use_language`: a patient's update in their language (their own
setting, the clinic's default, the update's Telegram language, English: the first offered),
a clinician's in English. Forged or stale buttons get a clear answer and change nothing."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError

from bot.context import AftercareContext
from bot.i18n import _, use_language
from bot.i18n.names import language_label, language_name
from bot.i18n.resolve import CLINICIANS, offered_languages, patient_language
from bot.messaging.delivery import answer_query
from handlers.auth import Handler
from storage.patients import set_language
from storage.states import Actor, ActorKind

log = logging.getLogger(__name__)

PREFIX = "lang:"
AnyHandler = Callable[[Any, AftercareContext], Coroutine[Any, Any, None]]


def update_language(update: object, context: AftercareContext) -> str:
    """The language this update is answered in: the patient's; English for a clinician."""
    identity = context.identity
    user = update.effective_user if isinstance(update, Update) else None
    code = user.language_code if user is not None else None
    if identity.patient is None and identity.clinicians:
        return CLINICIANS
    clinic = context.app.clinic(identity.patient.clinic_id if identity.patient else None)
    return patient_language(identity.patient, clinic.language, code)


def in_their_language(handler: AnyHandler) -> AnyHandler:
    """Run `handler` (or the error handler) in the language of the update's sender."""

    @functools.wraps(handler)
    async def speaking(update: Any, context: AftercareContext) -> None:
        with use_language(update_language(update, context)):
            await handler(update, context)

    return speaking


def in_english(handler: Handler) -> Handler:
    """Run a clinician's handler in the clinic's language (English), whoever else they are."""

    @functools.wraps(handler)
    async def speaking(update: Update, context: AftercareContext) -> None:
        with use_language(CLINICIANS):
            await handler(update, context)

    return speaking


def keyboard(offered: tuple[str, ...]) -> InlineKeyboardMarkup:
    """One button per offered language, in its own words; data `lang:<tag>` (≤ 64 bytes)."""
    rows = [
        [InlineKeyboardButton(language_label(tag, in_language=tag), callback_data=f"{PREFIX}{tag}")]
        for tag in offered
    ]
    rows.append([InlineKeyboardButton(_("Clinic's default"), callback_data=f"{PREFIX}default")])
    return InlineKeyboardMarkup(rows)


async def language_command(update: Update, context: AftercareContext) -> None:
    """/language: the languages the check-in is offered in, as buttons."""
    message, patient = update.effective_message, context.identity.patient
    if message is None:
        return
    if patient is None:
        await message.reply_text(_("/language is for patients of the clinic."))
        return
    await message.reply_text(
        _("Which language should I write to you in?"), reply_markup=keyboard(offered_languages())
    )


async def language_button(update: Update, context: AftercareContext) -> None:
    """A tap on a language: stored as the patient's own, confirmed in that language."""
    query, patient = update.callback_query, context.identity.patient
    assert query is not None
    tag = (query.data or "").removeprefix(PREFIX)
    offered = offered_languages()
    if patient is None or patient.id is None or (tag != "default" and tag not in offered):
        await answer_query(
            query,
            _("That language cannot be chosen now. Send /language to see the ones offered."),
            alert=True,
        )
        return
    ctx = context.app
    async with context.effects() as session:
        await set_language(
            session,
            patient=patient,
            language=None if tag == "default" else tag,
            actor=Actor.of(ActorKind.PATIENT, patient.id),
            now=ctx.clock.now(),
        )
    await answer_query(query)
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except TelegramError as exc:  # the buttons stay; the choice is stored
        log.info("language.buttons_kept error=%s", type(exc).__name__)
    with use_language(update_language(update, context)) as now_speaking:
        confirm = _("From now on I write to you in {language}.").format(
            language=language_name(now_speaking, in_language=now_speaking)
        )
        if query.message is not None:
            await context.bot.send_message(query.message.chat.id, confirm)
