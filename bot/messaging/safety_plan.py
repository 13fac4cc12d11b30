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
from bot.i18n import N_, _
from bot.messaging.delivery import Delivery, deliver
from bot.services.safety.events import StepView, Tap, plan_to_show
from storage.models import Patient

log = logging.getLogger(__name__)

DATA = re.compile(r"^plan:([0-9]{1,9}):([nhc]):([1-6])(?::([0-9]{1,2}))?$")
HEADING = N_("Your safety plan")
NO_PLAN = N_(
    "You do not have a safety plan with us yet. Your clinic can make one with you at your "
    "next visit. If you are in danger now, send /crisis for the numbers to call."
)
HELPED = N_("Thank you for telling us. Keep going with what helps; the next step is there too.")

# The patient's step titles of `bot.domain.safety_plan.STEPS`, marked here for extraction (the
# domain imports nothing of ours); tests/i18n keeps the two the same.
STEP_TITLES = (
    N_("My warning signs"),
    N_("Things I can do on my own"),
    N_("People and places that take my mind off it"),
    N_("People I can ask for help"),
    N_("Professionals I can call in a crisis"),
    N_("Making where I am safe"),
)


# The refusals of `bot.services.safety.events` (STALE, UNKNOWN), marked here for extraction;
# tests/i18n keeps them the same.
REFUSALS = (
    N_("This button is from an older version of your plan. Send /plan for the current one."),
    N_("This button is not one of ours. Send /plan to see your plan."),
)


def refusal(text: str) -> str:
    """Why a plan button did nothing, in the patient's language."""
    return _(text)


def no_plan() -> str:
    return _(NO_PLAN)


def helped() -> str:
    return _(HELPED)


def step_text(view: StepView) -> str:
    """The step as the patient reads it. The step's title and items are the plan's own words
    (written with the clinician), shown as they are; the step's title is ours."""
    heading = _("{heading} — step {step} of 6: {title}").format(
        heading=_(HEADING), step=view.step, title=_(view.title)
    )
    lines = [heading, ""]
    lines += [f"• {item.text}" for item in view.items] or [_("(nothing written here yet)")]
    return "\n".join(lines)


def keyboard(view: StepView) -> InlineKeyboardMarkup:
    """*Call …* for each contact of the step, then *Next step* and *This helped*."""
    base = f"plan:{view.plan_id}"
    rows = [
        [InlineKeyboardButton(call_label(item.name), callback_data=f"{base}:c:{view.step}:{i}")]
        for i, item in view.contacts
    ]
    last = [InlineKeyboardButton(_("This helped"), callback_data=f"{base}:h:{view.step}")]
    if not view.last:
        next_step = InlineKeyboardButton(_("Next step"), callback_data=f"{base}:n:{view.step}")
        last.insert(0, next_step)
    return InlineKeyboardMarkup([*rows, last])


def call_label(name: str) -> str:
    return _("Call {name}").format(name=name)


def call_text(name: str, e164: str) -> str:
    """The number to dial, as its own message: Telegram makes it tappable."""
    return _("Call {name}: {number}\nTap the number to dial it.").format(name=name, number=e164)


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
