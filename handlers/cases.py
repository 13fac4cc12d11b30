"""Clinician case handlers: acknowledge, resolve, /open, /patients, /history."""

from __future__ import annotations

import asyncio
import logging
import re

from telegram import ForceReply, Message, Update
from telegram.error import TelegramError

from bot.charts import render_png, summary_text
from bot.context import AftercareContext
from bot.messaging.case_news import announce_taken, show_case_state
from bot.messaging.listings import history_text, open_cases_text, patients_text
from bot.services.case_queue import open_case_cards
from bot.services.cases import CaseError, acknowledge, raised_since, resolve
from bot.services.mood_chart import mood_chart_for
from bot.services.overview import patient_rows
from bot.services.patient_views import patient_of_clinic
from bot.services.timeline import patient_timeline, recent
from handlers.auth import NOT_AUTHORISED, answer_query, clinicians_only
from storage.cases import get_case
from storage.models import Clinician
from storage.states import CaseStatus

log = logging.getLogger(__name__)

RESOLVE_PROMPT = "Resolution note for case #{id}: reply to this message with what was done."
RESOLVE_PROMPT_SHAPE = re.compile(r"^Resolution note for case #([0-9]{1,9}):")
CASE_ID = re.compile(r"^#?([0-9]{1,9})$")  # ASCII digits that fit a database integer


def parse_case_id(text: str) -> int | None:
    """A case number as typed or carried in button data; None for anything else."""
    match = CASE_ID.match(text)
    return int(match.group(1)) if match else None


async def _registration_for(context: AftercareContext, me: Clinician, case_id: int) -> Clinician:
    """A clinician of several clinics acts on a case as a clinician of the case's clinic."""
    if len(context.identity.clinicians) < 2:
        return me
    async with context.app.db.transaction() as session:
        case = await get_case(session, case_id=case_id)
    for registration in context.identity.clinicians:
        if case is not None and registration.clinic_id == case.clinic_id:
            return registration
    return me


async def _ack(context: AftercareContext, me: Clinician, case_id: int) -> str:
    ctx = context.app
    me = await _registration_for(context, me, case_id)
    async with context.effects() as session:
        case, took = await acknowledge(session, case_id=case_id, clinician=me, now=ctx.clock.now())
    if not took:
        return f"Case #{case_id} is already {case.status}."
    await announce_taken(ctx, context.bot, case_id=case_id, by=me, what="acknowledged")
    return (
        f"✓ You acknowledged case #{case_id}. Re-paging has stopped. Resolve it with "
        f"/resolve {case_id} <note> when done."
    )


async def _resolve(context: AftercareContext, me: Clinician, case_id: int, note: str) -> str:
    ctx = context.app
    me = await _registration_for(context, me, case_id)
    async with context.effects() as session:
        await resolve(session, case_id=case_id, clinician=me, note=note, now=ctx.clock.now())
    await announce_taken(ctx, context.bot, case_id=case_id, by=me, what="resolved")
    return f"✓ Case #{case_id} resolved."


async def case_button(update: Update, context: AftercareContext) -> None:
    """Acknowledge / Resolve buttons on a page."""
    query, me = (
        update.callback_query,
        (context.identity.clinicians[0] if context.identity.clinicians else None),
    )
    assert query is not None
    parts = (query.data or "").split(":")
    number = parse_case_id(parts[2]) if len(parts) in (3, 4) else None
    if me is None or number is None:
        await answer_query(query, NOT_AUTHORISED if me is None else "Unknown case.", alert=True)
        return
    async with context.app.db.transaction() as session:
        case = await get_case(session, case_id=number)
    if case is None or case.clinic_id not in {c.clinic_id for c in context.identity.clinicians}:
        await answer_query(query, f"No case #{number} in your clinic.", alert=True)
        return
    if len(parts) == 4 and (stale := raised_since(case, parts[3], "this page was sent")):
        await answer_query(query, stale, alert=True)
        return
    if (
        case is not None
        and case.status != CaseStatus.OPEN
        and (parts[1] == "ack" or case.status == CaseStatus.RESOLVED)
    ):
        await answer_query(query, f"Case #{number} is already {case.status}.", alert=True)
        await show_case_state(context.app, context.bot, case_id=number)  # old buttons go
        return
    try:
        if parts[1] == "ack":
            reply = await _ack(context, me, number)
            await answer_query(query, "Acknowledged")
        else:
            await answer_query(query)
            await context.bot.send_message(
                me.chat_id, RESOLVE_PROMPT.format(id=number), reply_markup=ForceReply()
            )
            return
    except CaseError as exc:
        await answer_query(query, str(exc), alert=True)
        return
    await context.bot.send_message(me.chat_id, reply)


@clinicians_only
async def ack_command(
    update: Update, context: AftercareContext, message: Message, me: Clinician
) -> None:
    """/ack CASE."""
    args = context.args or []
    if len(args) != 1 or parse_case_id(args[0]) is None:
        await message.reply_text("Usage: /ack CASE, e.g. /ack 12")
        return
    try:
        await message.reply_text(await _ack(context, me, parse_case_id(args[0]) or 0))
    except CaseError as exc:
        await message.reply_text(str(exc))


@clinicians_only
async def resolve_command(
    update: Update, context: AftercareContext, message: Message, me: Clinician
) -> None:
    """/resolve CASE note."""
    args = context.args or []
    if len(args) < 2 or parse_case_id(args[0]) is None:
        await message.reply_text("Usage: /resolve CASE note — the note says what was done.")
        return
    try:
        await message.reply_text(
            await _resolve(context, me, parse_case_id(args[0]) or 0, " ".join(args[1:]))
        )
    except CaseError as exc:
        await message.reply_text(str(exc))


async def resolution_reply(update: Update, context: AftercareContext) -> bool:
    """A clinician's reply to a resolution prompt; False if the message is not one."""
    message, me = (
        update.effective_message,
        (context.identity.clinicians[0] if context.identity.clinicians else None),
    )
    if message is None or me is None or not isinstance(message.reply_to_message, Message):
        return False
    match = RESOLVE_PROMPT_SHAPE.match(message.reply_to_message.text or "")
    if match is None:
        return False
    try:
        await message.reply_text(
            await _resolve(context, me, int(match.group(1)), message.text or "")
        )
    except CaseError as exc:
        await message.reply_text(str(exc))
    return True


@clinicians_only
async def open_cases(
    update: Update, context: AftercareContext, message: Message, me: Clinician
) -> None:
    """/open: the clinic's unresolved cases, oldest first, each with who and why."""
    ctx = context.app
    clinic = ctx.clinic(me.clinic_id)
    async with ctx.db.transaction() as session:
        cards = await open_case_cards(session, clinic=clinic)
    await message.reply_text(open_cases_text(cards, clinic=clinic, now=ctx.clock.now()))


@clinicians_only
async def patients(
    update: Update, context: AftercareContext, message: Message, me: Clinician
) -> None:
    """/patients: each patient with last check-in, last mood and current risk."""
    ctx = context.app
    async with ctx.db.transaction() as session:
        rows = await patient_rows(session, clinic_id=me.clinic_id, now=ctx.clock.now())
    await message.reply_text(patients_text(rows, clinic=ctx.clinic(me.clinic_id)))


@clinicians_only
async def patient_history(
    update: Update, context: AftercareContext, message: Message, me: Clinician
) -> None:
    """/history REF: recent check-ins and answers, with the mood trend."""
    args = context.args or []
    if len(args) != 1:
        await message.reply_text("Usage: /history REF")
        return
    ctx = context.app
    clinic = ctx.clinic(me.clinic_id)
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        patient = await patient_of_clinic(session, clinic_id=me.clinic_id, ref=args[0])
        if patient is None:
            found, chart = None, None
        else:
            found = await patient_timeline(
                session, clinic_id=me.clinic_id, patient_ref=args[0], now=now, days=30
            )
            chart = await mood_chart_for(session, patient=patient, clinic=clinic, now=now, days=30)
    if found is None or chart is None:
        await message.reply_text(f"No patient {args[0][:64]} in your clinic.")
        return
    await message.reply_text(history_text(recent(found), clinic=clinic))
    # The chart follows the text and never holds it back: a failure costs only the picture.
    try:
        png = await asyncio.to_thread(render_png, chart)
    except Exception:
        log.exception("history.chart_render_failed chat=%s", message.chat_id)
        return
    try:
        await message.reply_photo(png, caption=summary_text(chart)[:1024])
    except TelegramError as exc:
        log.warning("history.chart_not_sent chat=%s error=%s", message.chat_id, exc.message)
