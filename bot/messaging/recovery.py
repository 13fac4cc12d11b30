"""What a patient reads after a handler failed: the truth about what was saved, the crisis card
only where there is a finding, and the check-in going on."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.ext import ExtBot

from bot.clinic_config import ClinicConfig
from bot.context import AppContext
from bot.domain import checkin_flow
from bot.messaging import questions, texts
from bot.messaging.conversation import ask
from bot.messaging.delivery import deliver
from bot.services.answers import next_question
from bot.services.cases import has_open_case
from bot.services.messages import crisis_words
from storage.models import Patient
from storage.states import PatientStatus

log = logging.getLogger(__name__)


ASKS_FOR_HELP = ("/help", "/crisis")  # the reply that failed was the crisis card itself


def update_finding(update: Update, clinic: ClinicConfig) -> bool:
    """The update itself carries a finding (a Yes tapped on a C-SSRS item or the red flags,
    crisis words) or asked for the crisis card (/help, /crisis)."""
    query = update.callback_query
    if query is not None:
        tap = questions.parse_tap(query.data)
        return tap is not None and checkin_flow.is_positive(tap.item_id, tap.value)
    message = update.effective_message
    text = (message.text or message.caption or "") if message is not None else ""
    command = text.split(maxsplit=1)[0].split("@")[0].lower() if text.strip() else ""
    return command in ASKS_FOR_HELP or (bool(text) and bool(crisis_words(clinic, text)))


async def tell_after_failure(
    ctx: AppContext,
    bot: ExtBot[Any],
    *,
    update: Update,
    chat_id: int,
    patient: Patient | None,
    saved: bool,
) -> None:
    """Say what happened; with the update saved and a question waiting, ask it again.

    The crisis card goes with the apology only when the update carries a finding or the
    patient already has an open case; if the database cannot tell, it goes (help over doubt).
    """
    clinic = ctx.clinic(patient.clinic_id if patient else ctx.intake.clinic_of_chat.get(chat_id))
    card = update_finding(update, clinic)
    pending = None
    if patient is not None and patient.id is not None:
        try:
            async with ctx.db.transaction() as session:
                card = card or await has_open_case(session, patient_id=patient.id)
                if saved and patient.status == PatientStatus.ACTIVE:
                    pending = await next_question(session, patient=patient)
        except Exception:
            log.warning("recovery.lookup_failed chat=%s", chat_id, exc_info=True)
            card = True
    text = (
        texts.saved_then_failed(clinic, card=card, continues=pending is not None)
        if saved
        else texts.something_went_wrong(clinic, card=card)
    )
    await deliver(bot.send_message(chat_id, text), what="error_reply")
    if patient is None or pending is None:
        return
    try:
        await ask(ctx, bot, patient=patient, checkin_id=pending[0], item_id=pending[1], again=True)
    except Exception:
        log.warning("recovery.ask_failed checkin=%s", pending[0], exc_info=True)
