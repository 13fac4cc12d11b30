"""What an erased patient is told (issue 31): once, after the erasure has committed, in their
language; true (nothing more is sent, nobody reads the chat) and with the crisis card, since
the conversation that carried it is ending."""

from __future__ import annotations

from telegram import Bot

from bot.clinic_config import ClinicConfig
from bot.domain.delivery import Delivery
from bot.i18n import N_, _, use_language
from bot.messaging.delivery import deliver
from bot.messaging.texts import crisis_card

ERASED = N_(
    "{clinic} has erased what you wrote here and your contact details. Aftercare will not "
    "send you anything more, and nobody reads this chat any longer. To talk to your care "
    "team, contact {clinic} directly."
)


def erased_notice(clinic: ClinicConfig) -> str:
    """The notice in the current language, with the crisis card."""
    return f"{_(ERASED).format(clinic=clinic.name)}\n\n{crisis_card(clinic)}"


async def tell_erased(
    bot: Bot, *, chat_id: int | None, language: str, clinic: ClinicConfig
) -> Delivery | None:
    """Send the notice; None when the patient never linked a chat (nobody to tell)."""
    if chat_id is None:
        return None
    with use_language(language):
        text = erased_notice(clinic)
    return await deliver(bot.send_message(chat_id, text), what="erased_notice")
