"""Handlers every user may reach: the duplicate guard, identity, /help and /crisis, strangers."""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError
from telegram import Update
from telegram.constants import ChatType
from telegram.error import Forbidden, TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.context import AftercareContext, Identity
from bot.messaging import texts
from bot.services.messages import crisis_words
from handlers.auth import answer_query
from storage.people import clinicians_by_user, patient_by_chat
from storage.updates import claim_update

log = logging.getLogger(__name__)


async def ignore_non_private(update: Update, context: AftercareContext) -> None:
    """Groups and channels are never served: nothing there is read, stored or answered."""
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE or update.effective_user is None:
        log.info("update.ignored update_id=%s", update.update_id)
        raise ApplicationHandlerStop


async def admit(update: Update, context: AftercareContext) -> None:
    """Drop a redelivered update, and look the sender up once, in one transaction.

    Every later handler reads `context.identity`. If the database is down the guard fails
    open (a /crisis must still be answered) and the identity is marked unknown (see README).
    """
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None  # ignore_non_private ran first
    ctx = context.app
    try:
        async with ctx.db.transaction() as session:
            first = await claim_update(session, update_id=update.update_id, now=ctx.clock.now())
            if first:
                patient = await patient_by_chat(session, chat_id=chat.id)
                clinicians = await clinicians_by_user(session, telegram_user_id=user.id)
    except SQLAlchemyError:
        log.error("update.admit_failed update_id=%s", update.update_id, exc_info=True)
        context.identity = Identity(lookup_failed=True)
        return
    if not first:
        log.info("update.duplicate update_id=%s", update.update_id)
        raise ApplicationHandlerStop
    context.identity = Identity(patient=patient, clinicians=tuple(clinicians))
    if update.callback_query is not None and not update.callback_query.data:
        # PTB lets a button without data match every pattern: nothing of ours sends one.
        await answer_query(update.callback_query, texts.CLOSED)
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
    if context.identity.lookup_failed:
        if update.effective_message is not None:
            await update.effective_message.reply_text(
                texts.something_went_wrong(context.app.clinic(None))
            )
        raise ApplicationHandlerStop
    if not context.identity.is_stranger:
        return  # the next handler group serves patients and clinicians
    if update.callback_query is not None:
        await answer_query(update.callback_query, texts.NOT_ENROLLED_ALERT, alert=True)
    elif update.effective_message is not None:
        message = update.effective_message
        clinic = context.app.clinic(None)
        if crisis_words(clinic, message.text or message.caption or ""):
            await message.reply_text(texts.crisis_card(clinic))  # help first, even for strangers
        await message.reply_text(texts.join_explanation())
    raise ApplicationHandlerStop


async def on_error(update: object, context: AftercareContext) -> None:
    """Log any handler failure with its update id and keep serving; tell the user plainly."""
    update_id = update.update_id if isinstance(update, Update) else None
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
    if update.callback_query is not None:
        try:  # stop the button's spinner whatever else happens
            await update.callback_query.answer(texts.TRY_AGAIN)
        except TelegramError:
            log.info("handler.error_answer_failed update_id=%s", update_id)
    patient = context.identity.patient
    try:
        await context.bot.send_message(
            update.effective_chat.id,
            texts.something_went_wrong(context.app.clinic(patient.clinic_id if patient else None)),
        )
    except TelegramError:
        log.warning("handler.error_reply_failed update_id=%s", update_id, exc_info=True)


async def unknown_command(update: Update, context: AftercareContext) -> None:
    """A command nobody serves: say which ones exist."""
    if update.effective_message is not None and not context.identity.is_stranger:
        await update.effective_message.reply_text(
            texts.CLINICIAN_HELP
            if context.identity.clinicians and not context.identity.patient
            else texts.PATIENT_HELP
        )
