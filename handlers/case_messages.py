"""Clinicians writing to a case's patient in Telegram: the page's *Message patient* button asks
for the text (a prompt the clinician replies to), and the reply goes to the patient.

The pending compose lives in Telegram itself: the prompt names the case and asks for a reply
(ForceReply), so a clinician's next text, typed as that reply, is the message. Nothing is held
in memory or the database between the tap and the text; a text that is not a reply to a
prompt of ours never reaches a patient. Every send checks again that the case is the
clinician's clinic's and still open.
"""

from __future__ import annotations

import re

from telegram import ForceReply, Message, Update

from bot.context import AftercareContext
from bot.i18n import C_, NC_
from bot.messaging.case_thread import prompt, prompted_case, write_to_patient
from bot.messaging.delivery import answer_query
from bot.services.messages import NotWritable, may_write
from handlers.auth import NOT_AUTHORISED

UNKNOWN = NC_("Unknown case: this button is not one of ours.")
BUTTON_DATA = re.compile(r"^esc:msg:([0-9]{1,9})$")  # as bot.messaging.pages.MESSAGE_DATA makes


async def message_button(update: Update, context: AftercareContext) -> None:
    """*Message patient*: check the case is the clinician's and open, then ask for the text."""
    query = update.callback_query
    assert query is not None
    mine = context.identity.clinicians
    match = BUTTON_DATA.match(query.data or "")
    if not mine or match is None or update.effective_chat is None:
        refusal = C_(NOT_AUTHORISED if not mine else UNKNOWN)
        await answer_query(query, refusal, alert=True)
        return
    ctx = context.app
    async with ctx.db.transaction() as session:
        checked = await may_write(session, case_id=int(match.group(1)), by=mine)
    if isinstance(checked, NotWritable):
        await answer_query(query, checked.message, alert=True)
        return
    await answer_query(query)
    assert checked.case.id is not None
    await context.bot.send_message(
        update.effective_chat.id,
        prompt(
            case_id=checked.case.id,
            ref=checked.patient.ref,
            name=checked.clinician.name,
            clinic=ctx.clinic(checked.case.clinic_id),
        ),
        reply_markup=ForceReply(input_field_placeholder=C_("Your message to the patient")),
    )


async def compose_reply(update: Update, context: AftercareContext) -> bool:
    """A clinician's reply to a compose prompt goes to the patient; False if it is not one."""
    message = update.effective_message
    if message is None or not context.identity.clinicians:
        return False
    asked = message.reply_to_message
    if not isinstance(asked, Message) or (asked.from_user and not asked.from_user.is_bot):
        return False  # only a prompt the bot sent asks for a message
    case_id = prompted_case(asked.text or "")
    if case_id is None:
        return False
    if not message.text:
        await message.reply_text(C_("Only text can be passed to the patient. Nothing was sent."))
        return True
    written = await write_to_patient(
        context.app,
        context.bot,
        case_id=case_id,
        by=context.identity.clinicians,
        text=message.text,
        transaction=context.effects,
    )
    await message.reply_text(written.message)
    return True
