"""Clinician case handlers: acknowledge, resolve, /open, /patients, /history."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta

from telegram import ForceReply, Message, Update
from telegram.error import TelegramError

from bot.charts import render_png, summary_text
from bot.context import AftercareContext
from bot.messaging.case_news import announce_taken, show_case_state
from bot.messaging.listings import case_summary, fit
from bot.messaging.pages import when
from bot.services.cases import CaseError, acknowledge, raised_since, resolve
from bot.services.mood_chart import mood_chart_for
from handlers.auth import NOT_AUTHORISED, answer_query, clinicians_only
from storage.cases import get_case, pages_of_cases, unresolved_for_clinic
from storage.models import Clinician
from storage.patients import patient_by_ref, patients_by_ids
from storage.states import CaseStatus
from storage.views.reports import clinicians_by_ids, history, messages_of, patients_of_clinic

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
        cases = await unresolved_for_clinic(session, clinic_id=me.clinic_id)
        patients = await patients_by_ids(session, ids=[c.patient_id for c in cases])
        paged = await pages_of_cases(session, case_ids=[c.id for c in cases if c.id is not None])
        people = await clinicians_by_ids(session, ids=sorted({p.clinician_id for p in paged}))
    if not cases:
        await message.reply_text("No open cases.")
        return
    names = {c.id: c.name for c in people}
    blocks = [
        case_summary(
            case,
            patients[case.patient_id],
            [p for p in paged if p.case_id == case.id],
            names,
            clinic,
            ctx.clock.now(),
        )
        for case in cases
    ]
    await message.reply_text(fit(blocks, header=f"Open cases of {clinic.name}, oldest first:"))


@clinicians_only
async def patients(
    update: Update, context: AftercareContext, message: Message, me: Clinician
) -> None:
    """/patients: each patient with last check-in, last mood and current risk."""
    ctx = context.app
    async with ctx.db.transaction() as session:
        lines = await patients_of_clinic(session, clinic_id=me.clinic_id)
    if not lines:
        await message.reply_text("No patients yet.")
        return
    clinic = ctx.clinic(me.clinic_id)
    out = []
    for line in lines:
        last = (
            f"{when(line.last_checkin.sent_at, clinic, line.patient)} {line.last_checkin.status}"
            if line.last_checkin and line.last_checkin.sent_at
            else "no check-in yet"
        )
        mood = f"mood {line.last_mood}/10" if line.last_mood is not None else "no mood yet"
        risk = f"open {line.open_level}" if line.open_level else "no open case"
        out.append(f"{line.patient.ref} ({line.patient.status}): {last}; {mood}; {risk}")
    await message.reply_text("\n".join(out)[:4000])


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
    async with ctx.db.transaction() as session:
        patient = await patient_by_ref(session, clinic_id=me.clinic_id, ref=args[0])
        if patient is None or patient.id is None:
            await message.reply_text(f"No patient {args[0][:64]} in your clinic.")
            return
        now = ctx.clock.now()
        since = now - timedelta(days=30)
        rows = await history(session, patient_id=patient.id, since=since)
        typed = await messages_of(session, patient_id=patient.id, since=since)
        chart = await mood_chart_for(session, patient=patient, clinic=clinic, now=now, days=30)
    moods = [a["mood"] for _, a in reversed(rows) if "mood" in a]
    baseline = patient.baseline_mood if patient.baseline_mood is not None else "unset"
    out = [
        f"{patient.ref}: baseline {baseline}; mood trend (oldest→newest): "
        f"{' → '.join(moods) or 'none'}"
    ]
    for checkin, answers in rows:
        shown = ", ".join(f"{k}={v}" for k, v in answers.items())
        out.append(
            f"{when(checkin.due_at, clinic, patient)} {checkin.kind} "
            f"{checkin.status} risk {checkin.risk_level}: {shown or 'no answers'}"
        )
    if typed:
        out.append("Messages (newest first):")
        out.extend(
            f"{when(m.answered_at, clinic, patient)} «{m.value[:300]}»"
            if m.item_id == "message"
            else f"{when(m.answered_at, clinic, patient)} late {m.item_id}={m.value}"
            for m in typed
        )
    await message.reply_text("\n".join(out)[:4000])
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
