"""Handlers every user may reach: identity, /help and /crisis, strangers, and errors."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import Forbidden
from telegram.ext import ApplicationHandlerStop

from bot.context import CURRENT_UPDATE, AftercareContext, Identity
from bot.i18n import _
from bot.messaging import menus, texts
from bot.messaging.delivery import answer_query
from bot.messaging.recovery import tell_after_failure
from bot.services.messages import crisis_words
from storage.patients import record_telegram_language, telegram_language_changed
from storage.people import clinicians_by_user, patient_by_chat

log = logging.getLogger(__name__)


async def ignore_non_private(update: Update, context: AftercareContext) -> None:
    """Groups and channels are never served: nothing there is read, stored or answered."""
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE or update.effective_user is None:
        log.info("update.ignored update_id=%s", update.update_id)
        raise ApplicationHandlerStop


async def admit(update: Update, context: AftercareContext) -> None:
    """Look the sender up once; every later handler reads `context.identity`.

    If the database fails here the error reaches `on_error`, and the inbox tries the update
    again once the database is back (the sender was answered from memory meanwhile).
    """
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None  # ignore_non_private ran first
    ctx = context.app
    work = CURRENT_UPDATE.get()
    sender = work.sender if work is not None and work.update_id == update.update_id else None
    if sender is not None:  # looked up where the intake stored it, as its chat's next
        patient, clinicians = sender.patient, list(sender.clinicians)
    else:
        async with ctx.db.read() as session:  # a reader: it does not queue behind the writers
            patient = await patient_by_chat(session, chat_id=chat.id)
            clinicians = await clinicians_by_user(session, telegram_user_id=user.id)
    if patient is not None and telegram_language_changed(patient, user.language_code):
        async with ctx.db.transaction() as session:  # one UPDATE, only when it changed
            await record_telegram_language(
                session, patient=patient, language_code=user.language_code
            )
    context.identity = Identity(patient=patient, clinicians=tuple(clinicians))
    if patient is not None:  # the right crisis card if this chat writes during an outage
        ctx.intake.clinic_of_chat[chat.id] = patient.clinic_id
    if update.callback_query is not None and not update.callback_query.data:
        # PTB lets a button without data match every pattern: nothing of ours sends one.
        await answer_query(update.callback_query, _(texts.CLOSED))
        raise ApplicationHandlerStop


async def crisis(update: Update, context: AftercareContext) -> None:
    """Answer /help and /crisis with the crisis card of the sender's clinic."""
    patient = context.identity.patient
    clinic = context.app.clinic(patient.clinic_id if patient else None)
    if update.effective_message is not None:
        await update.effective_message.reply_text(texts.crisis_card(clinic))
    raise ApplicationHandlerStop


async def stranger(update: Update, context: AftercareContext) -> None:
    """Someone neither enrolled nor a clinician: explain how to join, store nothing about them."""
    if not context.identity.is_stranger:
        return  # the next handler group serves patients and clinicians
    if update.callback_query is not None:
        await answer_query(update.callback_query, _(texts.NOT_ENROLLED_ALERT), alert=True)
    elif update.effective_message is not None:
        message = update.effective_message
        clinic = context.app.clinic(None)
        if crisis_words(clinic, message.text or message.caption or ""):
            await message.reply_text(texts.crisis_card(clinic))  # help first, even for strangers
        await message.reply_text(texts.join_explanation())
    raise ApplicationHandlerStop


async def on_error(update: object, context: AftercareContext) -> None:
    """A handler failed. Before its effects were stored: stop, and let the inbox try again
    (or park it). After: log it, keep serving, and tell the user plainly."""
    update_id = update.update_id if isinstance(update, Update) else None
    work = CURRENT_UPDATE.get()
    if work is not None and not work.committed and context.error is not None:
        work.error = context.error  # bot.intake.inbox settles it: retry, wait out, or park
        log.info(
            "handler.failed_before_commit update_id=%s error=%s",
            update_id,
            type(context.error).__name__,
        )
        raise ApplicationHandlerStop
    log.error(
        "handler.failed update_id=%s error=%s",
        update_id,
        type(context.error).__name__,
        exc_info=context.error,
    )
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if update.effective_chat.type != ChatType.PRIVATE or isinstance(context.error, Forbidden):
        return  # not ours to answer, or Telegram will not let anything reach them
    saved = work is not None and work.committed  # its effects are stored; what followed failed
    if update.callback_query is not None:  # stop the button's spinner whatever else happens
        await answer_query(update.callback_query, _(texts.SAVED if saved else texts.TRY_AGAIN))
    await tell_after_failure(
        context.app,
        context.bot,
        update=update,
        chat_id=update.effective_chat.id,
        patient=context.identity.patient,
        saved=saved,
    )


async def unknown_command(update: Update, context: AftercareContext) -> None:
    """A command nobody serves: say which ones exist."""
    if update.effective_message is not None and not context.identity.is_stranger:
        await update.effective_message.reply_text(
            menus.clinician_help()
            if context.identity.clinicians and not context.identity.patient
            else _(texts.PATIENT_HELP)
        )
