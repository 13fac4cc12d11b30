"""The patient's safety plan in Telegram: /plan at any time, and the plan's buttons (*Next
step*, *This helped*, *Call …*). Forged or stale buttons get a clear answer and record nothing."""

from __future__ import annotations

from telegram import Update

from bot.context import AftercareContext
from bot.messaging import safety_plan
from bot.messaging.delivery import answer_query, deliver
from bot.services.safety.events import UNKNOWN, plan_to_show, tap

PATIENTS_ONLY = "/plan is for patients of the clinic: it shows their own safety plan."


async def plan_command(update: Update, context: AftercareContext) -> None:
    """/plan: step 1 of the patient's safety plan, recorded as opened."""
    message, patient = update.effective_message, context.identity.patient
    if message is None:
        return
    if patient is None or patient.chat_id is None:
        await message.reply_text(PATIENTS_ONLY)
        return
    ctx = context.app
    async with context.effects() as session:
        view = await plan_to_show(session, patient=patient, now=ctx.clock.now(), on_screen=False)
    if view is None:
        await message.reply_text(safety_plan.no_plan())
        return
    await safety_plan.send_step(context.bot, patient.chat_id, view)


async def plan_button(update: Update, context: AftercareContext) -> None:
    """*Next step* (the next step in place), *This helped*, or *Call …* (the number)."""
    query, patient = update.callback_query, context.identity.patient
    assert query is not None
    parsed = safety_plan.parse(query.data)
    if patient is None or patient.chat_id is None or parsed is None:
        await answer_query(query, safety_plan.refusal(UNKNOWN), alert=True)
        return
    plan_id, action, step, item = parsed
    ctx = context.app
    async with context.effects() as session:
        done = await tap(
            session,
            patient=patient,
            plan_id=plan_id,
            action=action,
            step=step,
            item=item,
            now=ctx.clock.now(),
        )
    if done.refusal is not None or done.view is None:
        await answer_query(query, safety_plan.refusal(done.refusal or UNKNOWN), alert=True)
        return
    if done.contact is not None:
        assert done.contact.e164 is not None
        await answer_query(query)
        await deliver(
            context.bot.send_message(
                patient.chat_id, safety_plan.call_text(done.contact.name, done.contact.e164)
            ),
            what="safety_plan call",
        )
    elif done.view.step != step:  # Next step: the plan's message moves on
        await answer_query(query)
        if query.message is not None:
            await deliver(
                context.bot.edit_message_text(
                    safety_plan.step_text(done.view),
                    chat_id=patient.chat_id,
                    message_id=query.message.message_id,
                    reply_markup=safety_plan.keyboard(done.view),
                ),
                what="safety_plan next",
            )
    else:
        await answer_query(query, safety_plan.helped(), alert=True)
