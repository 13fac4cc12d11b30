"""Telegram's command menus: patients see theirs, each clinician's chat sees the clinician's."""

from __future__ import annotations

from typing import Any

from telegram import BotCommand, BotCommandScopeChat
from telegram.ext import ExtBot

from bot.i18n import C_, N_, NC_, _, use_language
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
    BotCommand("open", NC_("Open cases, oldest first")),
    BotCommand("ack", NC_("Acknowledge a case: /ack CASE")),
    BotCommand("resolve", NC_("Resolve a case: /resolve CASE note")),
    BotCommand("patients", NC_("Patients with last check-in, mood and risk")),
    BotCommand("history", NC_("A patient's recent check-ins: /history REF")),
    BotCommand("contact", NC_("A patient's phone and emergency contact: /contact REF")),
    BotCommand("console", NC_("Sign in to the clinic console on the web")),
    BotCommand("oncall", NC_("Take the primary on-call shift now")),
    BotCommand("offcall", NC_("End your bot on-call shift")),
    BotCommand("enroll", NC_("Invite a patient: /enroll REF [ZONE] [LANG]")),
    BotCommand("infusion", NC_("Record an infusion: /infusion REF [HH:MM]")),
    BotCommand("resume", NC_("Restart a patient's check-ins: /resume REF")),
    BotCommand("help", NC_("The crisis card")),
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


def clinician_commands() -> list[BotCommand]:
    """The clinicians' menu with its descriptions in the current language."""
    return [BotCommand(c.command, C_(c.description)) for c in CLINICIAN_COMMANDS]


async def show_clinician_menu(bot: ExtBot[Any], chat_id: int) -> Delivery:
    """A clinician's chat gets the clinician commands instead of the patients'."""
    return await deliver(
        bot.set_my_commands(clinician_commands(), scope=BotCommandScopeChat(chat_id)),
        what=f"menu_clinician chat={chat_id}",
    )


CLINICIAN_HELP = NC_(
    "Clinician commands:\n"
    "/open — open cases, oldest first\n"
    "/ack CASE — acknowledge a case (stops re-paging)\n"
    "/resolve CASE note — resolve a case with what was done\n"
    "/patients — patients with last check-in, mood and risk\n"
    "/history REF — a patient's recent check-ins and mood trend\n"
    "/contact REF — a patient's phone and emergency contact (recorded in the audit log)\n"
    "/console — a sign-in link for the clinic console on the web\n"
    "/oncall — take the primary on-call shift now; /offcall — end it\n"
    "/enroll REF [ZONE] [LANG] — invite a patient (REF is the clinic's pseudonymous reference; "
    "ZONE - for the clinic's; LANG e.g. es)\n"
    "/resume REF — restart a stopped or unreachable patient's check-ins\n"
    "/infusion REF [HH:MM] — record an infusion that ended now or at HH:MM today\n"
    "/help — the crisis card"
)


def clinician_help() -> str:
    """The clinician commands, in the clinicians' catalogue."""
    return C_(CLINICIAN_HELP)


def clinician_registered(name: str, clinic: str) -> str:
    """A clinician's invite redeemed: who they are now, then the commands."""
    return (
        C_("Welcome, {name}. You're registered as a clinician of {clinic}.").format(
            name=name, clinic=clinic
        )
        + "\n\n"
        + clinician_help()
    )
