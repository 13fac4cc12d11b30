"""Clinicians logging an attempt to reach the patient in Telegram: the page's *Log contact*
button, then the method, then the outcome, each a button (`bot.messaging.outreach_buttons`).
Button data is checked as the Acknowledge / Resolve buttons' is: forged or stale data, a case
of another clinic or a resolved one gets a clear answer and changes nothing."""

from __future__ import annotations

import contextlib
import logging

from telegram import CallbackQuery, Message, Update
from telegram.error import TelegramError

from bot.context import AftercareContext
from bot.i18n import C_, NC_
from bot.messaging.delivery import answer_query
from bot.messaging.outreach_buttons import (
    DATA,
    METHOD_CODES,
    OUTCOME_CODES,
    ask_method,
    ask_outcome,
    logged_text,
    method_keyboard,
    outcome_keyboard,
)
from bot.services.reaching.outreach import check_loggable, log_outreach
from handlers.auth import NOT_AUTHORISED

log = logging.getLogger(__name__)

UNKNOWN = NC_("Unknown case: this button is not one of ours.")
ALREADY = NC_("Already recorded: see the message above.")
RECORDED = NC_("Recorded")


async def outreach_button(update: Update, context: AftercareContext) -> None:
    """*Log contact*, a method or an outcome."""
    query = update.callback_query
    assert query is not None
    mine = context.identity.clinicians
    match = DATA.match(query.data or "")
    if not mine or match is None or update.effective_chat is None:
        await answer_query(query, C_(NOT_AUTHORISED if not mine else UNKNOWN), alert=True)
        return
    logged, method_case, method, outcome_case, m_code, o_code = match.groups()
    ctx = context.app
    case_id = int(logged or method_case or outcome_case)
    if outcome_case is None:  # the page's button or a method: ask the next thing
        await _ask_next(update, context, case_id, method)
        return
    if m_code not in METHOD_CODES or o_code not in OUTCOME_CODES:
        await answer_query(query, C_(UNKNOWN), alert=True)
        return
    if not _still_offered(query):  # a double tap, or the keyboard was already used
        async with ctx.db.transaction() as session:
            refusal = await check_loggable(session, case_id=case_id, by=mine)
        await answer_query(query, refusal or C_(ALREADY), alert=refusal is not None)
        return
    method_value, outcome_value = METHOD_CODES[m_code], OUTCOME_CODES[o_code]
    async with context.effects() as session:
        done = await log_outreach(
            session,
            case_id=case_id,
            by=mine,
            method=method_value.value,
            outcome=outcome_value.value,
            at=None,
            note="",
            clinic_of=ctx.clinic,
            now=ctx.clock.now(),
        )
    if done.not_found or done.problems:
        await answer_query(
            query,
            C_("No case #{id} in your clinic.").format(id=case_id)
            if done.not_found
            else done.message,
            alert=True,
        )
        return
    done.observe(ctx.metrics)
    await answer_query(query, C_(RECORDED))
    case = done.case
    assert case is not None
    zone = ctx.clinic(case.clinic_id).zone
    due = (
        f"{case.outreach_due_at.astimezone(zone):%a %d %b %H:%M %Z}"
        if case.outreach_due_at
        else None
    )
    text = logged_text(case_id, method_value, outcome_value, due)
    try:  # recorded already: a failed edit only costs the confirmation, so say it anew
        if query.message is None:
            raise TelegramError("no message to edit")
        await context.bot.edit_message_text(
            text, chat_id=update.effective_chat.id, message_id=query.message.message_id
        )
    except TelegramError:
        log.info("outreach.confirm_edit_failed case=%s", case_id)
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(update.effective_chat.id, text)


async def _ask_next(
    update: Update, context: AftercareContext, case_id: int, method: str | None
) -> None:
    """*Log contact* (offer the methods) or a method (offer the outcomes), once the case is
    one the clinician may log on."""
    query = update.callback_query
    assert query is not None and update.effective_chat is not None
    mine, ctx = context.identity.clinicians, context.app
    if method is not None and method not in METHOD_CODES:
        await answer_query(query, C_(UNKNOWN), alert=True)
        return
    async with ctx.db.transaction() as session:
        refusal = await check_loggable(session, case_id=case_id, by=mine)
    if refusal is not None:
        await answer_query(query, refusal, alert=True)
        return
    await answer_query(query)
    if method is None:
        await context.bot.send_message(
            update.effective_chat.id, ask_method(case_id), reply_markup=method_keyboard(case_id)
        )
    elif query.message is not None:
        await context.bot.edit_message_text(
            ask_outcome(case_id, METHOD_CODES[method]),
            chat_id=update.effective_chat.id,
            message_id=query.message.message_id,
            reply_markup=outcome_keyboard(case_id, method),
        )


def _still_offered(query: CallbackQuery) -> bool:
    """The tapped outcome is still a button of its message (recording removes them)."""
    markup = query.message.reply_markup if isinstance(query.message, Message) else None
    if markup is None:
        return False
    return any(
        button.callback_data == query.data for row in markup.inline_keyboard for button in row
    )
