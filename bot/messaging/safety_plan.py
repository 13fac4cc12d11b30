"""The patient's safety plan in Telegram (CLINICAL.md §11): a step at a time with *Next step*,
*This helped* and *Call …* for each contact of the step.

Telegram's URL buttons take only http(s) and tg:// links, never tel:, so *Call Sam* is a
callback button: the tap is recorded and answered with a message holding the number, which
Telegram shows as a tappable number that dials. Button data `plan:<plan>:<n|h|c>:<step>[:<i>]`
stays within Telegram's 64 bytes; every tap is checked against the patient's current plan.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.ext import ExtBot

from bot.context import AppContext
from bot.messaging.delivery import Delivery, deliver
from bot.services.safety.events import StepView, Tap, plan_to_show
from storage.models import Patient

log = logging.getLogger(__name__)

DATA = re.compile(r"^plan:([0-9]{1,9}):([nhc]):([1-6])(?::([0-9]{1,2}))?$")
HEADING = "Your safety plan"
NO_PLAN = (
    "You do not have a safety plan with us yet. Your clinic can make one with you at your "
    "next visit. If you are in danger now, send /crisis for the numbers to call."
)
HELPED = "Thank you for telling us. Keep going with what helps; the next step is there too."


def step_text(view: StepView) -> str:
    """The step as the patient reads it."""
    lines = [f"{HEADING} — step {view.step} of 6: {view.title}", ""]
    lines += [f"• {item.text}" for item in view.items] or ["(nothing written here yet)"]
    return "\n".join(lines)


def keyboard(view: StepView) -> InlineKeyboardMarkup:
    """*Call …* for each contact of the step, then *Next step* and *This helped*."""
    base = f"plan:{view.plan_id}"
    rows = [
        [InlineKeyboardButton(f"Call {item.name}", callback_data=f"{base}:c:{view.step}:{i}")]
        for i, item in view.contacts
    ]
    last = [InlineKeyboardButton("This helped", callback_data=f"{base}:h:{view.step}")]
    if not view.last:
        last.insert(0, InlineKeyboardButton("Next step", callback_data=f"{base}:n:{view.step}"))
    return InlineKeyboardMarkup([*rows, last])


def call_text(name: str, e164: str) -> str:
    """The number to dial, as its own message: Telegram makes it tappable."""
    return f"Call {name}: {e164}\nTap the number to dial it."


async def send_step(bot: ExtBot[Any], chat_id: int, view: StepView) -> Delivery:
    return await deliver(
        bot.send_message(chat_id, step_text(view), reply_markup=keyboard(view)),
        what=f"safety_plan step={view.step}",
    )


async def show_after_screen(
    ctx: AppContext, bot: ExtBot[Any], *, patient: Patient, paged: bool = False
) -> None:
    """After the crisis card and the page: step 1 of the patient's active plan, unless it was
    shown moments ago and no page went out now; nothing without an active plan. Never raises
    (the card and the page have gone; a failure here is logged)."""
    assert patient.chat_id is not None
    try:
        async with ctx.db.transaction() as session:
            view = await plan_to_show(
                session, patient=patient, now=ctx.clock.now(), on_screen=True, paged=paged
            )
        if view is not None:
            await send_step(bot, patient.chat_id, view)
    except Exception:  # the plan is help beside the card, never a reason to fail the answer
        log.exception("safety_plan.show_failed patient=%s", patient.id)


def parse(data: str | None) -> tuple[int, Tap, int, int | None] | None:
    """A plan button's (plan id, tap, step, contact index), or None."""
    match = DATA.match(data or "")
    if match is None:
        return None
    plan_id, action, step, item = match.groups()
    return int(plan_id), Tap(action), int(step), int(item) if item is not None else None
