"""Joining and leaving: /start with an invite, the consent screen, /stop."""

from __future__ import annotations

import logging
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import ApplicationHandlerStop

from bot.clinic_config import ClinicConfig
from bot.context import AftercareContext
from bot.i18n import _, use_language
from bot.i18n.resolve import offered_languages, patient_language, resolve
from bot.messaging import menus, texts
from bot.messaging.delivery import answer_query, deliver
from bot.messaging.menus import show_clinician_menu
from bot.services.enrollment import (
    InviteProblem,
    accept_consent,
    check_invite,
    check_offer,
    invited_language,
    offer_consent,
    redeem_clinician_invite,
)
from bot.services.patients import AlreadyStopped, opt_out
from handlers import clinician
from storage.states import InviteKind, PatientStatus

log = logging.getLogger(__name__)

STOP_YES, STOP_NO = "stop:yes", "stop:no"
INVITE_ID = re.compile(r"^[0-9]{1,9}$")  # ASCII digits that fit a database integer


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
            await message.reply_text(menus.clinician_help())
        else:
            await message.reply_text(texts.join_explanation())
        raise ApplicationHandlerStop
    now = ctx.clock.now()
    offered, invited = None, None
    async with context.effects() as session:
        checked = await check_invite(session, token=token, chat_id=chat.id, now=now)
        clinician = None
        if (
            checked.problem is None
            and checked.invite
            and checked.invite.kind == InviteKind.CLINICIAN
        ):
            clinician = await redeem_clinician_invite(
                session, invite=checked.invite, user_id=user.id, chat_id=chat.id, now=now
            )
        elif checked.problem is None and checked.invite is not None:
            offered = await offer_consent(session, invite=checked.invite, chat_id=chat.id)
            invited = await invited_language(session, invite=checked.invite)
    if checked.problem is not None:
        log.info("invite.refused update_id=%s problem=%s", update.update_id, checked.problem)
        await message.reply_text(texts.invite_problem(checked.problem))
    elif clinician is not None:
        await show_clinician_menu(context.bot, chat.id)
        clinic = ctx.clinic(clinician.clinic_id)
        await message.reply_text(menus.clinician_registered(clinician.name, clinic.name))
    else:
        assert checked.invite is not None
        clinic = ctx.clinic(checked.invite.clinic_id)
        with use_language(
            resolve(invited, clinic.language, user.language_code, offered=offered_languages())
        ):
            await _show_consent(message, clinic, offered)
    raise ApplicationHandlerStop


async def _show_consent(message: Message, clinic: ClinicConfig, offered: int | None) -> None:
    """The consent screen in the language the patient was enrolled in (else the clinic's)."""
    await message.reply_text(
        texts.consent_screen(clinic),
        reply_markup=InlineKeyboardMarkup(
            [
                [
                    # The invite's id, not its token: the token is a secret.
                    InlineKeyboardButton(_(texts.AGREE), callback_data=f"consent:yes:{offered}"),
                    InlineKeyboardButton(_(texts.NOT_NOW), callback_data=f"consent:no:{offered}"),
                ]
            ]
        ),
    )


async def consent(update: Update, context: AftercareContext) -> None:
    """The consent buttons: only "I agree" links the chat, and only with a still-valid invite."""
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    assert query is not None and user is not None and chat is not None
    parts = (query.data or "").split(":", 2)
    if len(parts) != 3 or not parts[2]:
        await answer_query(query, texts.invite_problem("malformed"), alert=True)
        raise ApplicationHandlerStop
    choice, reference = parts[1:]
    ctx = context.app
    if choice != "yes" and context.identity.patient is not None:
        # "Not now" on a screen of someone already enrolled: nothing to undo; say so.
        await answer_query(query, texts.invite_problem(InviteProblem.ENROLLED), alert=True)
        raise ApplicationHandlerStop
    if choice != "yes":
        await answer_query(query)
        await deliver(query.edit_message_text(_(texts.CONSENT_DECLINED)), what="consent_declined")
        raise ApplicationHandlerStop
    now = ctx.clock.now()
    async with context.effects() as session:
        if INVITE_ID.match(reference):
            checked = await check_offer(session, invite_id=int(reference), chat_id=chat.id, now=now)
        else:  # a consent screen shown before buttons carried the invite's id
            checked = await check_invite(session, token=reference, chat_id=chat.id, now=now)
        patient = None
        if checked.problem is None and checked.invite and checked.invite.kind == InviteKind.PATIENT:
            patient = await accept_consent(
                session, invite=checked.invite, user_id=user.id, chat_id=chat.id, now=now
            )
    if patient is None:
        problem = checked.problem or InviteProblem.UNKNOWN
        await answer_query(query, texts.invite_problem(problem), alert=True)
        # A second "I agree" leaves the screen as it is; forged data rewrites nothing.
        if problem not in (InviteProblem.ENROLLED, InviteProblem.UNKNOWN, InviteProblem.MALFORMED):
            await deliver(query.edit_message_text(texts.invite_problem(problem)), what="consent")
    else:
        await answer_query(query)
        clinic = ctx.clinic(patient.clinic_id)
        with use_language(patient_language(patient, clinic.language, user.language_code)):
            await deliver(
                query.edit_message_text(texts.consent_given(clinic)),
                what="consent_given",
            )
            await context.bot.send_message(chat.id, texts.welcome(clinic))
            await context.bot.send_message(chat.id, texts.crisis_card(clinic))
    raise ApplicationHandlerStop


async def stop(update: Update, context: AftercareContext) -> None:
    """/stop: ask the patient to confirm before check-ins stop."""
    message, patient = update.effective_message, context.identity.patient
    if message is None or patient is None:
        return
    await message.reply_text(
        _(texts.STOP_CONFIRM),
        reply_markup=InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(_(texts.STOP_YES_LABEL), callback_data=STOP_YES),
                    InlineKeyboardButton(_(texts.STOP_NO_LABEL), callback_data=STOP_NO),
                ]
            ]
        ),
    )


async def stop_confirmed(update: Update, context: AftercareContext) -> None:
    """The /stop confirmation buttons."""
    query, patient = update.callback_query, context.identity.patient
    assert query is not None
    if patient is None or query.data != STOP_YES:
        if patient is not None and patient.status == PatientStatus.OPTED_OUT:
            await answer_query(query, _(texts.ALREADY_STOPPED))  # "keep them" cannot undo a stop
            return
        await answer_query(query)
        await deliver(query.edit_message_text(_(texts.STOP_KEPT)), what="stop_kept")
        return
    ctx = context.app
    clinic = ctx.clinic(patient.clinic_id)
    try:
        async with context.effects() as session:
            raised = await opt_out(session, patient=patient, clinic=clinic, now=ctx.clock.now())
    except AlreadyStopped:
        await answer_query(query, _(texts.ALREADY_STOPPED))  # a second tap: nothing to change
        return
    await answer_query(query)
    await deliver(query.edit_message_text(texts.stopped(clinic)), what="stopped")
    if raised is not None and raised.page_now and ctx.dispatcher:
        assert raised.case.id is not None
        await ctx.dispatcher.page_now(raised.case.id)


async def resume(update: Update, context: AftercareContext) -> None:
    """/resume: a clinician restarts a patient's check-ins; a patient is told how theirs restart."""
    patient, message = context.identity.patient, update.effective_message
    if patient is None or context.identity.clinicians or message is None:
        await clinician.resume(update, context)
        return
    clinic = context.app.clinic(patient.clinic_id)
    if patient.status == PatientStatus.ACTIVE:
        await message.reply_text(_(texts.CHECKINS_ON))
    else:
        await message.reply_text(texts.paused(clinic, patient.status))
