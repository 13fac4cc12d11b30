"""Patient handlers: button answers, typed text, /checkin."""

from __future__ import annotations

import asyncio
import logging

from telegram import CallbackQuery, Message, Update

from bot.context import AftercareContext
from bot.domain import checkin_flow
from bot.i18n import _, use_language
from bot.i18n.resolve import CLINICIANS
from bot.messaging import menus, questions, texts
from bot.messaging.case_thread import pass_to_writers, passed_on
from bot.messaging.conversation import (
    act_on_answer,
    ask,
    continue_checkin,
    retire_buttons,
    urgent,
)
from bot.messaging.delivery import answer_query
from bot.services.answers import (
    AlreadySaved,
    Answered,
    LateYes,
    NotCurrent,
    awaiting_note,
    next_question,
    record_note,
    record_tap,
)
from bot.services.cases import note_delay
from bot.services.checkin_states import start_adhoc
from bot.services.messages import Attached, attach_patient_message, record_free_text
from bot.services.messages import Message as KeptMessage
from bot.services.patients import wrote_while_unreachable
from handlers import case_messages, taking
from storage.models import Patient
from storage.states import PatientStatus

log = logging.getLogger(__name__)


async def tap(update: Update, context: AftercareContext) -> None:
    """A check-in button: every tap gets a true answer, and no Yes is ever dropped."""
    query, patient = update.callback_query, context.identity.patient
    assert query is not None
    parsed = questions.parse_tap(query.data)
    if patient is None or parsed is None:
        await answer_query(query, _(texts.CLOSED))
        return
    ctx = context.app
    clinic = ctx.clinic(patient.clinic_id)
    message = query.message if isinstance(query.message, Message) else None
    now = ctx.clock.now()
    spinner = early = context.spinner  # the intake stopped it: the tap looked like the next answer

    def accepted() -> None:  # the next answer, about to be stored: stop the spinner now
        nonlocal spinner
        if spinner is None:
            spinner = asyncio.create_task(answer_query(query, None))

    try:
        async with context.effects() as session:
            result = await record_tap(
                session,
                patient=patient,
                clinic=clinic,
                tap=parsed,
                now=now,
                update_id=update.update_id,
                on_accepted=accepted,
            )
            if isinstance(result, Answered | LateYes):
                note_delay(result.raised, written_at=context.delayed_since(now), now=now)
        if isinstance(result, Answered):
            # The spinner stopped wordless as soon as the tap was known to be the next answer
            # (it says nothing, so it confirms nothing before the card and the page). A
            # correction's words wait until the card is out, beside the next question, never in
            # front of it. A slow or refused callback answer holds nothing back.
            await act_on_answer(ctx, context.bot, patient=patient, clinic=clinic, answered=result)
            said = _(texts.CHANGED_TO_YES) if result.corrected_from else None
            if spinner is None:
                spinner = asyncio.create_task(answer_query(query, said))
            elif said is not None:  # the intake's guess was wrong, its spinner gone: tell here
                await _tell(context, query, said, stopped=True)
            await continue_checkin(
                ctx, context.bot, patient=patient, answered=result, question=message
            )
            return
    finally:
        if spinner is not None and spinner is not early:  # the inbox awaits the intake's
            await spinner
    if isinstance(result, LateYes):
        log.info("checkin.late_yes update_id=%s", update.update_id)
        await urgent(
            ctx,
            context.bot,
            patient=patient,
            clinic=clinic,
            checkin_id=parsed.checkin_id,
            card=result.card,
            trigger=parsed.item_id,
            raised=result.raised,
            red_flag=parsed.item_id == checkin_flow.RED_FLAGS,
        )
        await _tell(context, query, _(texts.LATE_YES), stopped=early is not None)
        if message is not None:  # nothing more to answer on a closed check-in's question
            await retire_buttons(context.bot, patient, message.message_id)
    elif isinstance(result, AlreadySaved | NotCurrent):
        answer = (
            texts.already_saved(result.item_id, result.value)
            if isinstance(result, AlreadySaved)
            else _(texts.NOT_CURRENT)
        )
        await _tell(context, query, answer, stopped=early is not None)
        if message is not None and message.message_id != result.current_message_id:
            await retire_buttons(context.bot, patient, message.message_id)  # a stale keyboard
    else:
        log.info("checkin.tap_refused update_id=%s", update.update_id)
        await _tell(context, query, _(texts.CLOSED), stopped=early is not None)


async def _tell(
    context: AftercareContext, query: CallbackQuery, text: str, *, stopped: bool
) -> None:
    """A tap's true answer: on its button, or in the chat when the spinner was already stopped
    (a spinner takes one answer only): wordless by the intake, and the check-in changed in the
    milliseconds between storing the tap and recording it (e.g. its window closed); or by an
    earlier try of this update, whose answer Telegram now refuses."""
    if not stopped and await answer_query(query, text):
        return
    patient = context.identity.patient
    if patient is not None and patient.chat_id is not None:
        log.info("checkin.tap_answered_in_chat query=%s", query.id)
        await context.bot.send_message(patient.chat_id, text)


async def text(update: Update, context: AftercareContext) -> None:
    """Typed text: the note if asked, a hint if a button is expected, else kept as a message."""
    message, patient = update.effective_message, context.identity.patient
    if message is None:
        return
    if patient is None:
        if (
            context.identity.clinicians
            and not await taking.resolution_reply(update, context)
            and not await case_messages.compose_reply(update, context)
        ):
            await message.reply_text(menus.clinician_help())
        return
    ctx = context.app
    clinic = ctx.clinic(patient.clinic_id)
    # PostgreSQL text cannot hold NUL; every other character the patient typed is kept.
    body = (message.text or message.caption or "").replace("\x00", "\ufffd")
    now = ctx.clock.now()
    kept = None
    attached: Attached | None = None
    pending: tuple[int, str] | None = None
    async with context.effects() as session:
        note_for = await awaiting_note(session, patient=patient)
        answered = None
        if note_for is not None and note_for.id is not None and body:
            answered = await record_note(
                session,
                patient=patient,
                clinic=clinic,
                checkin_id=note_for.id,
                text=body,
                now=now,
                update_id=update.update_id,
            )
            if answered is not None:
                note_delay(answered.raised, written_at=context.delayed_since(now), now=now)
        if answered is None:
            assert patient.id is not None
            kept = await record_free_text(
                session,
                patient=patient,
                clinic=clinic,
                text=body or f"<{_kind(message)}>",
                now=now,
                update_id=update.update_id,
                scan=bool(body),
            )
            note_delay(kept.raised, written_at=context.delayed_since(now), now=now)
            attached = await attach_patient_message(  # after triage: a case it raised counts
                session, patient=patient, text=kept.answer.value, now=now
            )
            pending = await next_question(session, patient=patient)
            if patient.status == PatientStatus.UNREACHABLE:
                await wrote_while_unreachable(session, patient=patient, clinic=clinic, now=now)
    if answered is not None:
        # Crisis card and page first (a note can hold crisis words), then the rest.
        await act_on_answer(ctx, context.bot, patient=patient, clinic=clinic, answered=answered)
        await retire_buttons(context.bot, patient, answered.checkin.message_id)  # Skip is moot
        await message.reply_text(_(texts.NOTE_SAVED))
        await continue_checkin(ctx, context.bot, patient=patient, answered=answered, question=None)
        return
    assert kept is not None
    await _after_message(context, message, patient, kept, attached, pending)


async def _after_message(
    context: AftercareContext,
    message: Message,
    patient: Patient,
    kept: KeptMessage,
    attached: Attached | None,
    pending: tuple[int, str] | None,
) -> None:
    """A kept message: the card and page if its words call for them, the clinicians writing
    on the open case told, then one true answer (the waiting question, or what became of it)."""
    ctx = context.app
    clinic = ctx.clinic(patient.clinic_id)
    await urgent(
        ctx,
        context.bot,
        patient=patient,
        clinic=clinic,
        checkin_id=None,
        card=bool(kept.words),
        trigger="crisis_words",
        raised=kept.raised,
    )
    reached: list[str] = []
    if attached is not None and attached.writers:  # the clinicians writing on the open case
        with use_language(CLINICIANS):  # to the clinicians: English, whatever the patient reads
            reached = await pass_to_writers(ctx, context.bot, attached=attached, patient=patient)
    if pending is not None:
        await ask(
            ctx,
            context.bot,
            patient=patient,
            checkin_id=pending[0],
            item_id=pending[1],
            prefix=_(texts.HINT_USE_BUTTONS),
            again=True,
        )
    elif patient.status == PatientStatus.UNREACHABLE:
        await message.reply_text(texts.paused(clinic, patient.status))
    elif not kept.words and not kept.in_burst:  # a burst of messages is answered once
        await message.reply_text(
            passed_on(clinic, reached) if reached else texts.message_saved(clinic)
        )


def _kind(message: Message) -> str:
    for kind in ("sticker", "photo", "voice", "video", "document", "audio", "location"):
        if getattr(message, kind, None):
            return kind
    return "message"


async def checkin_now(update: Update, context: AftercareContext) -> None:
    """/checkin: continue the open check-in, or start an unscheduled one now."""
    message, patient = update.effective_message, context.identity.patient
    if patient is None or message is None:
        return
    if patient.status != PatientStatus.ACTIVE:
        await message.reply_text(
            texts.paused(context.app.clinic(patient.clinic_id), patient.status)
        )
        return
    ctx = context.app
    now = ctx.clock.now()
    assert patient.id is not None
    async with context.effects() as session:
        resume = await next_question(session, patient=patient)
        if resume is None:
            adhoc = await start_adhoc(
                session,
                patient=patient,
                now=now,
                owner=ctx.instance_id,
                lease_until=now + ctx.dispatcher.lease if ctx.dispatcher else None,
            )
    if resume is not None:
        await ask(
            ctx, context.bot, patient=patient, checkin_id=resume[0], item_id=resume[1], again=True
        )
        return
    assert ctx.dispatcher is not None
    await ctx.dispatcher.send_checkin(adhoc, patient, routine=False)  # the patient asked
