"""Talking a patient through a check-in: ask a question, acknowledge an answer, say thanks."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Message
from telegram.ext import ExtBot

from bot.clinic_config import ClinicConfig
from bot.context import AppContext
from bot.domain import checkin_flow
from bot.messaging import questions, texts
from bot.messaging.delivery import Delivery, Outcome, deliver, send_question
from bot.messaging.safety_plan import show_after_screen
from bot.services import deliveries
from bot.services.answers import Answered
from bot.services.case_facts import checkin_ending
from bot.services.cases import RaisedCase
from storage.checkins import get_checkin
from storage.models import Patient

log = logging.getLogger(__name__)


async def ask(
    ctx: AppContext,
    bot: ExtBot[Any],
    *,
    patient: Patient,
    checkin_id: int,
    item_id: str,
    prefix: str | None = None,
    again: bool = False,
    retire: int | None = None,
) -> Delivery:
    """Send one question with its buttons and remember it as the check-in's current message.

    `again`: the question was asked before; the old copy loses its buttons once this is sent.
    `retire`: another message whose buttons go once this is sent (an answered question whose
    edit failed).
    """
    assert patient.chat_id is not None
    superseded = None
    if again:  # the earlier copy of this question is still on screen with its buttons
        async with ctx.db.transaction() as session:
            row = await get_checkin(session, checkin_id=checkin_id)
            superseded = row.message_id if row is not None else None
    body = questions.question_text(item_id)
    delivery = await deliver(
        send_question(
            bot,
            patient.chat_id,
            f"{prefix}\n\n{body}" if prefix else body,
            checkin_id=checkin_id,
            item_id=item_id,
        ),
        what=f"question checkin={checkin_id} item={item_id}",
    )
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        await deliveries.record_question(
            session,
            patient=patient,
            checkin_id=checkin_id,
            item_id=item_id,
            delivery=delivery,
            now=now,
        )
    if delivery.message_id is not None and superseded not in (None, delivery.message_id):
        await retire_buttons(bot, patient, superseded)  # the question lives on in the new copy
    if retire is not None and retire not in (superseded, delivery.message_id):
        await retire_buttons(bot, patient, retire)
    return delivery


async def act_on_answer(
    ctx: AppContext, bot: ExtBot[Any], *, patient: Patient, clinic: ClinicConfig, answered: Answered
) -> None:
    """The crisis card at once if positive, then the page; nothing else goes before them."""
    assert answered.checkin.id is not None
    ctx.metrics.checkins_answered.inc()
    await urgent(
        ctx,
        bot,
        patient=patient,
        clinic=clinic,
        checkin_id=answered.checkin.id,
        card=answered.card,
        trigger=answered.item_id,
        red_flag=answered.positive and answered.item_id == checkin_flow.RED_FLAGS,
        raised=answered.raised,
    )


async def urgent(
    ctx: AppContext,
    bot: ExtBot[Any],
    *,
    patient: Patient,
    clinic: ClinicConfig,
    checkin_id: int | None,
    card: bool,
    trigger: str,
    red_flag: bool = False,
    raised: RaisedCase | None = None,
) -> None:
    """Crisis card (CLINICAL.md §7) and the page (§8) at once; the card is recorded after both.

    The card's request goes out first; the page's claim and plan (database work) run while
    it is on the wire, so the page does not wait for the card's round trip (seconds, when
    Telegram is slow). The patient's "you have been paged" still follows the card.
    """
    assert patient.chat_id is not None
    shown = None
    paging = None
    card_done = asyncio.Event()  # the patient's "you have been paged" waits for the card
    if raised is not None and raised.page_now and ctx.dispatcher:
        assert raised.case.id is not None
        paging = asyncio.create_task(
            ctx.dispatcher.page_now(raised.case.id, patient_told_after=card_done)
        )
    try:
        if red_flag:  # new with every red flag, card or not: emergency care now (§4)
            await deliver(
                bot.send_message(patient.chat_id, texts.red_flag_advice(clinic)),
                what="red_flag_advice",
            )
        if card:
            shown = await deliver(
                bot.send_message(patient.chat_id, texts.crisis_card(clinic)), what="crisis_card"
            )
    finally:
        card_done.set()
        if paging is not None:  # the page completes here, even if the card went wrong
            await paging  # page_now logs and swallows its own failures; the next tick retries
    if shown is not None:
        async with ctx.db.transaction() as session:
            await deliveries.record_crisis_card(
                session,
                patient=patient,
                checkin_id=checkin_id,
                outcome=shown.outcome,
                trigger=trigger,
                now=ctx.clock.now(),
            )
    if card or paging is not None:  # the safety plan after the card and the page (§11)
        await show_after_screen(ctx, bot, patient=patient, paged=paging is not None)


async def continue_checkin(
    ctx: AppContext,
    bot: ExtBot[Any],
    *,
    patient: Patient,
    answered: Answered,
    question: Message | None,
) -> None:
    """Show the chosen answer on its question, then ask the next one or close truthfully.

    An answer out of turn (a Yes replacing a No, or on an older copy) that changes what comes
    next takes the buttons off the question that was waiting, and asks the right one.
    """
    assert patient.chat_id is not None and answered.checkin.id is not None
    # If the answered question cannot show its answer (the edit failed after the limiter's
    # tries), the next message opens with it and the question's buttons go after that send.
    kept: str | None = None
    unmarked: int | None = None
    if question is not None and question.text:
        edited = await deliver(
            question.edit_text(
                questions.answered_text(question.text, answered.item_id, answered.value),
                reply_markup=None,
            ),
            what="edit_answered",
        )
        if edited.outcome is not Outcome.SENT:
            kept = texts.answer_kept(questions.answered_line(answered.item_id, answered.value))
            unmarked = question.message_id
    if answered.item_id != answered.waiting_for:
        await retire_buttons(bot, patient, unmarked)  # one more try; nothing else is sent
        if not answered.changed_course:
            return  # the question the check-in waits for is still on screen
        tapped = question.message_id if question is not None else None
        if answered.waiting_message_id != tapped:
            await retire_buttons(bot, patient, answered.waiting_message_id)
        kept = unmarked = None
    if answered.next_item is not None:
        delivery = await ask(
            ctx,
            bot,
            patient=patient,
            checkin_id=answered.checkin.id,
            item_id=answered.next_item,
            prefix=kept,
            retire=unmarked,
        )
        if delivery.outcome is not Outcome.SENT:
            log.warning("checkin.next_question_undelivered checkin=%s", answered.checkin.id)
        return
    clinic = ctx.clinic(patient.clinic_id)
    async with ctx.db.transaction() as session:
        ending = await checkin_ending(
            session, checkin=answered.checkin, clinic=clinic, now=ctx.clock.now()
        )
    closing = texts.closing(clinic, ending)
    await deliver(
        bot.send_message(patient.chat_id, f"{kept}\n\n{closing}" if kept else closing),
        what="thanks",
    )
    await retire_buttons(bot, patient, unmarked)


async def retire_buttons(bot: ExtBot[Any], patient: Patient, message_id: int | None) -> None:
    """Best effort: take the buttons off a question that no longer takes an answer."""
    if patient.chat_id is None or message_id is None:
        return
    await deliver(
        bot.edit_message_reply_markup(
            chat_id=patient.chat_id, message_id=message_id, reply_markup=None
        ),
        what="retire_buttons",
    )
