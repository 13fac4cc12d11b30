"""Clinicians taking a case in Telegram: the page's Acknowledge / Resolve buttons, /ack, /resolve
and the reply to a resolution prompt. All of them take it through `take_case`."""

from __future__ import annotations

import logging
import re

from telegram import ForceReply, Message, Update

from bot.context import AftercareContext
from bot.i18n import C_, NC_
from bot.messaging.case_news import show_case_state
from bot.messaging.case_thread import case_in_prompt
from bot.messaging.delivery import answer_query
from bot.messaging.taking import TakeRequest, take_case
from bot.services.case_taking import CaseAction, Taken, TakeOutcome, Taker, check_take
from handlers.auth import NOT_AUTHORISED, clinicians_only
from storage.models import Clinician

log = logging.getLogger(__name__)

RESOLVE_PROMPT = NC_("Resolution note for case #{id}: reply to this message with what was done.")
CASE_ID = re.compile(r"^#?([0-9]{1,9})$")  # ASCII digits that fit a database integer
SEEN_WHEN = NC_("this page was sent")
UNKNOWN = NC_("Unknown case.")
ACKNOWLEDGED = NC_("Acknowledged")  # the Acknowledge button's answer
NOT_REACHED = re.compile(r"\bnot reached\s*:", re.IGNORECASE)


def parse_case_id(text: str) -> int | None:
    """A case number as typed or carried in button data; None for anything else."""
    match = CASE_ID.match(text)
    return int(match.group(1)) if match else None


def _taker(context: AftercareContext) -> Taker:
    """The clinician, as each clinic they work for knows them (a case is taken as its clinic's)."""
    return Taker.clinician(*context.identity.clinicians)


async def _take(
    context: AftercareContext,
    case_id: int,
    action: CaseAction,
    *,
    note: str = "",
    seen_level: str | None = None,
) -> Taken:
    note, not_reached = split_reason(note)
    request = TakeRequest(
        case_id,
        action,
        _taker(context),
        note=note,
        seen_level=seen_level,
        seen_when=C_(SEEN_WHEN),
        not_reached=not_reached,
    )
    return await take_case(context.app, context.bot, request, transaction=context.effects)


def split_reason(note: str) -> tuple[str, str]:
    """A resolution note and, after "not reached:", the reason the patient was not reached
    ("/resolve 12 not reached: 3 attempts, emergency contact informed")."""
    match = NOT_REACHED.search(note)
    if match is None:
        return note, ""
    return note, note[match.end() :].strip()


def _said(taken: Taken) -> str:
    """What the taker is told, in Telegram's words."""
    if taken.outcome is TakeOutcome.UNREACHED:
        number = taken.case.id if taken.case is not None else ""
        return C_(
            "{refusal} Use Log contact on the page to record the attempt, or give the "
            "reason: /resolve {id} not reached: <why> (e.g. not reachable after 3 "
            "attempts, emergency contact informed)."
        ).format(refusal=taken.message, id=number)
    if taken.outcome is not TakeOutcome.DONE:
        return taken.message
    number = taken.case.id if taken.case is not None else ""
    if taken.action is CaseAction.RESOLVE:
        return C_("✓ Case #{id} resolved.").format(id=number)
    return C_(
        "✓ You acknowledged case #{id}. Re-paging has stopped; the outreach clock has "
        "not: record each attempt to reach the patient with Log contact. Resolve it with "
        "/resolve {id} <note> when done."
    ).format(id=number)


async def case_button(update: Update, context: AftercareContext) -> None:
    """Acknowledge / Resolve buttons on a page."""
    query = update.callback_query
    assert query is not None
    me = context.identity.clinicians[0] if context.identity.clinicians else None
    parts = (query.data or "").split(":")
    known = len(parts) in (3, 4) and parts[1] in ("ack", "res")  # anything else is not ours
    number = parse_case_id(parts[2]) if known else None
    if me is None or number is None:
        await answer_query(query, C_(NOT_AUTHORISED if me is None else UNKNOWN), alert=True)
        return
    action = CaseAction.ACKNOWLEDGE if parts[1] == "ack" else CaseAction.RESOLVE
    seen = parts[3] if len(parts) == 4 else None
    if action is CaseAction.ACKNOWLEDGE:
        taken = await _take(context, number, action, seen_level=seen)
    else:  # the note comes as a reply to the prompt: only check that it may be resolved
        async with context.app.db.transaction() as session:
            checked = await check_take(
                session,
                case_id=number,
                by=_taker(context),
                action=action,
                seen_level=seen,
                seen_when=C_(SEEN_WHEN),
            )
        if not isinstance(checked, Taken):
            await answer_query(query)
            await context.bot.send_message(
                me.chat_id, C_(RESOLVE_PROMPT).format(id=number), reply_markup=ForceReply()
            )
            return
        taken = checked
    if taken.outcome is TakeOutcome.DONE:
        await answer_query(query, C_(ACKNOWLEDGED))
        await context.bot.send_message(me.chat_id, _said(taken))
        return
    await answer_query(query, taken.message, alert=True)
    if taken.outcome is TakeOutcome.ALREADY:
        await show_case_state(context.app, context.bot, case_id=number)  # old buttons go


@clinicians_only
async def ack_command(
    update: Update, context: AftercareContext, message: Message, me: Clinician
) -> None:
    """/ack CASE."""
    args = context.args or []
    number = parse_case_id(args[0]) if len(args) == 1 else None
    if number is None:
        await message.reply_text(C_("Usage: /ack CASE, e.g. /ack 12"))
        return
    await message.reply_text(_said(await _take(context, number, CaseAction.ACKNOWLEDGE)))


@clinicians_only
async def resolve_command(
    update: Update, context: AftercareContext, message: Message, me: Clinician
) -> None:
    """/resolve CASE note."""
    args = context.args or []
    number = parse_case_id(args[0]) if len(args) >= 2 else None
    if number is None:
        await message.reply_text(C_("Usage: /resolve CASE note — the note says what was done."))
        return
    taken = await _take(context, number, CaseAction.RESOLVE, note=" ".join(args[1:]))
    await message.reply_text(_said(taken))


async def resolution_reply(update: Update, context: AftercareContext) -> bool:
    """A clinician's reply to a resolution prompt; False if the message is not one."""
    message = update.effective_message
    if message is None or not context.identity.clinicians:
        return False
    if not isinstance(message.reply_to_message, Message):
        return False
    case_id = case_in_prompt(C_(RESOLVE_PROMPT), message.reply_to_message.text or "")
    if case_id is None:
        return False
    taken = await _take(context, case_id, CaseAction.RESOLVE, note=message.text or "")
    await message.reply_text(_said(taken))
    return True
