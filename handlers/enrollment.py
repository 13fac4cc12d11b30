"""Joining and leaving: /start with an invite, the consent screen, /stop."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ApplicationHandlerStop

from bot.context import AftercareContext
from bot.messaging import texts
from bot.services.enrollment import (
    InviteProblem,
    accept_consent,
    check_invite,
    redeem_clinician_invite,
)
from bot.services.patients import opt_out
from handlers.auth import answer_query

log = logging.getLogger(__name__)

STOP_YES, STOP_NO = "stop:yes", "stop:no"


async def start(update: Update, context: AftercareContext) -> None:
    """/start [token]: a clinician invite registers; a patient invite shows the consent screen."""
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    assert message is not None and user is not None and chat is not None
    ctx = context.app
    token = context.args[0] if context.args else None
    if token is None:
        identity = context.identity
        if identity.patient is not None:
            await message.reply_text(texts.welcome(ctx.clinic(identity.patient.clinic_id)))
        elif identity.clinicians:
            await message.reply_text(texts.CLINICIAN_HELP)
        else:
            await message.reply_text(texts.join_explanation())
        raise ApplicationHandlerStop
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        checked = await check_invite(session, token=token, chat_id=chat.id, now=now)
        clinician = None
        if checked.problem is None and checked.invite and checked.invite.kind == "clinician":
            clinician = await redeem_clinician_invite(
                session, invite=checked.invite, user_id=user.id, chat_id=chat.id, now=now
            )
    if checked.problem is not None:
        log.info("invite.refused update_id=%s problem=%s", update.update_id, checked.problem)
        await message.reply_text(texts.INVITE_PROBLEMS[checked.problem])
    elif clinician is not None:
        clinic = ctx.clinic(clinician.clinic_id)
        await message.reply_text(
            f"Welcome, {clinician.name}. You're registered as a clinician "
            f"of {clinic.name}.\n\n{texts.CLINICIAN_HELP}"
        )
    else:
        assert checked.invite is not None
        clinic = ctx.clinic(checked.invite.clinic_id)
        await message.reply_text(
            texts.consent_screen(clinic),
            reply_markup=InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton("I agree", callback_data=f"consent:yes:{token}"),
                        InlineKeyboardButton("Not now", callback_data=f"consent:no:{token}"),
                    ]
                ]
            ),
        )
    raise ApplicationHandlerStop


async def consent(update: Update, context: AftercareContext) -> None:
    """The consent buttons: only "I agree" links the chat, and only with a still-valid invite."""
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    assert query is not None and user is not None and chat is not None
    parts = (query.data or "").split(":", 2)
    if len(parts) != 3 or not parts[2]:
        await answer_query(query, texts.INVITE_PROBLEMS["malformed"], alert=True)
        raise ApplicationHandlerStop
    _, choice, token = parts
    ctx = context.app
    if choice != "yes":
        await answer_query(query)
        await query.edit_message_text(texts.CONSENT_DECLINED)
        raise ApplicationHandlerStop
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        checked = await check_invite(session, token=token, chat_id=chat.id, now=now)
        patient = None
        if checked.problem is None and checked.invite and checked.invite.kind == "patient":
            patient = await accept_consent(
                session, invite=checked.invite, user_id=user.id, chat_id=chat.id, now=now
            )
    await answer_query(query)
    if patient is None:
        problem = checked.problem or InviteProblem.UNKNOWN
        await query.edit_message_text(texts.INVITE_PROBLEMS[problem])
    else:
        clinic = ctx.clinic(patient.clinic_id)
        await query.edit_message_text(f"{texts.consent_screen(clinic)}\n\n✓ I agree")
        await context.bot.send_message(chat.id, texts.welcome(clinic))
        await context.bot.send_message(chat.id, texts.crisis_card(clinic))
    raise ApplicationHandlerStop


async def stop(update: Update, context: AftercareContext) -> None:
    """/stop: ask the patient to confirm before check-ins stop."""
    message, patient = update.effective_message, context.identity.patient
    if message is None or patient is None:
        return
    await message.reply_text(
        texts.STOP_CONFIRM,
        reply_markup=InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton("Yes, stop check-ins", callback_data=STOP_YES),
                    InlineKeyboardButton("No, keep them", callback_data=STOP_NO),
                ]
            ]
        ),
    )


async def stop_confirmed(update: Update, context: AftercareContext) -> None:
    """The /stop confirmation buttons."""
    query, patient = update.callback_query, context.identity.patient
    assert query is not None
    await answer_query(query)
    if patient is None or query.data != STOP_YES:
        await query.edit_message_text(texts.STOP_KEPT)
        return
    ctx = context.app
    clinic = ctx.clinic(patient.clinic_id)
    async with ctx.db.transaction() as session:
        raised = await opt_out(session, patient=patient, clinic=clinic, now=ctx.clock.now())
    await query.edit_message_text(texts.stopped(clinic))
    if raised is not None and raised.page_now and ctx.dispatcher:
        assert raised.case.id is not None
        await ctx.dispatcher.page_now(raised.case.id)
