"""Thin Telegram handlers: parse an update, call the domain and the store, reply."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from handlers import (
    case_messages,
    cases,
    checkin,
    clinician,
    common,
    console,
    enrollment,
    language,
    oncall,
    outreach,
    safety_plan,
    taking,
)

# Clinicians' handlers not behind `clinicians_only` (which speaks English itself)
CLINICIANS_BUTTONS = {
    oncall.oncall,
    oncall.offcall,
    case_messages.message_button,
    outreach.outreach_button,
    taking.case_button,
}

# Handler groups run in this order; within a group the first matching handler wins.
PRIVATE_ONLY, ADMIT, PUBLIC, MEMBERS = -20, -10, 0, 10


def register_handlers(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Wire every handler; the order of groups is the order of concerns."""
    application.add_handler(TypeHandler(Update, common.ignore_non_private), group=PRIVATE_ONLY)
    application.add_handler(TypeHandler(Update, common.admit), group=ADMIT)
    application.add_handlers(
        [
            CommandHandler(["help", "crisis"], common.crisis),
            CommandHandler("start", enrollment.start),
            CallbackQueryHandler(enrollment.consent, pattern=r"^consent:"),
            MessageHandler(filters.ALL, common.stranger),
            CallbackQueryHandler(common.stranger),
        ],
        group=PUBLIC,
    )
    application.add_handlers(
        [
            CommandHandler("enroll", clinician.enroll),
            CommandHandler("infusion", clinician.infusion),
            CommandHandler("resume", enrollment.resume),
            CommandHandler("oncall", oncall.oncall),
            CommandHandler("offcall", oncall.offcall),
            CommandHandler("ack", taking.ack_command),
            CommandHandler("resolve", taking.resolve_command),
            CommandHandler("open", cases.open_cases),
            CommandHandler("patients", cases.patients),
            CommandHandler("history", cases.patient_history),
            CommandHandler("contact", cases.patient_contact),
            CommandHandler("console", console.console),
            CallbackQueryHandler(case_messages.message_button, pattern=r"^esc:msg:"),
            CallbackQueryHandler(outreach.outreach_button, pattern=r"^esc:(log|lm|lo):"),
            CallbackQueryHandler(taking.case_button, pattern=r"^esc:"),
            CommandHandler("checkin", checkin.checkin_now),
            CommandHandler("stop", enrollment.stop),
            CallbackQueryHandler(enrollment.stop_confirmed, pattern=r"^stop:"),
            CommandHandler("language", language.language_command),
            CallbackQueryHandler(language.language_button, pattern=r"^lang:"),
            CommandHandler("plan", safety_plan.plan_command),
            CallbackQueryHandler(safety_plan.plan_button, pattern=r"^plan:"),
            CallbackQueryHandler(checkin.tap),
            MessageHandler(filters.COMMAND, common.unknown_command),
            MessageHandler(filters.ALL, checkin.text),  # edited messages are read too
        ],
        group=MEMBERS,
    )
    for group in (PUBLIC, MEMBERS):  # every answer in the sender's language (issue 29)
        for handler in application.handlers[group]:
            english = handler.callback in CLINICIANS_BUTTONS
            speak = language.in_english if english else language.in_their_language
            handler.callback = speak(handler.callback)
    application.add_error_handler(language.in_their_language(common.on_error))
