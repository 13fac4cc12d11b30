"""Telegram's command menus: patients see theirs, each clinician's chat sees the clinician's."""

from __future__ import annotations

from typing import Any

from telegram import BotCommand, BotCommandScopeChat
from telegram.ext import ExtBot

from bot.i18n import N_, _, use_language
from bot.messaging.delivery import Delivery, deliver

# The English menu; `patient_commands()` says it in the current language.
PATIENT_COMMANDS = [
    BotCommand("checkin", N_("Start a check-in now")),
    BotCommand("crisis", N_("Crisis resources")),
    BotCommand("help", N_("Help and crisis resources")),
    BotCommand("language", N_("Change the language")),
    BotCommand("stop", N_("Stop check-ins")),
]
CLINICIAN_COMMANDS = [
    BotCommand("open", "Open cases, oldest first"),
    BotCommand("ack", "Acknowledge a case: /ack CASE"),
    BotCommand("resolve", "Resolve a case: /resolve CASE note"),
    BotCommand("patients", "Patients with last check-in, mood and risk"),
    BotCommand("history", "A patient's recent check-ins: /history REF"),
    BotCommand("contact", "A patient's phone and emergency contact: /contact REF"),
    BotCommand("console", "Sign in to the clinic console on the web"),
    BotCommand("oncall", "Take the primary on-call shift now"),
    BotCommand("offcall", "End your bot on-call shift"),
    BotCommand("enroll", "Invite a patient: /enroll REF [ZONE]"),
    BotCommand("infusion", "Record an infusion: /infusion REF [HH:MM]"),
    BotCommand("resume", "Restart a patient's check-ins: /resume REF"),
    BotCommand("help", "The crisis card"),
]


def patient_commands() -> list[BotCommand]:
    """The patients' menu with its descriptions in the current language."""
    return [BotCommand(c.command, _(c.description)) for c in PATIENT_COMMANDS]


async def show_patient_menu(bot: ExtBot[Any], language: str | None = None) -> Delivery:
    """The default menu, for every chat without its own: the patients'. With `language`, the
    menu Telegram shows to users whose app is set to that language (`language_code`)."""
    if language is None:
        return await deliver(bot.set_my_commands(patient_commands()), what="menu_default")
    with use_language(language) as chosen:
        commands = patient_commands()
    return await deliver(
        bot.set_my_commands(commands, language_code=chosen[:2]), what=f"menu_default {chosen}"
    )


async def show_clinician_menu(bot: ExtBot[Any], chat_id: int) -> Delivery:
    """A clinician's chat gets the clinician commands instead of the patients'."""
    return await deliver(
        bot.set_my_commands(CLINICIAN_COMMANDS, scope=BotCommandScopeChat(chat_id)),
        what=f"menu_clinician chat={chat_id}",
    )
