"""Telegram's *Log contact* flow on a page: the method, then the outcome, as buttons (short
codes keep the callback data within Telegram's 64 bytes), and what the clinician is told."""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import C_
from bot.services.reaching.outreach import METHODS, OUTCOMES
from storage.states import OutreachMethod, OutreachOutcome

METHOD_CODES = {
    "p": OutreachMethod.PHONE,
    "t": OutreachMethod.TELEGRAM,
    "v": OutreachMethod.VIDEO,
    "i": OutreachMethod.IN_PERSON,
    "c": OutreachMethod.EMERGENCY_CONTACT,
    "s": OutreachMethod.EMERGENCY_SERVICES,
}
OUTCOME_CODES = {
    "r": OutreachOutcome.REACHED,
    "n": OutreachOutcome.NO_ANSWER,
    "v": OutreachOutcome.VOICEMAIL,
    "w": OutreachOutcome.WRONG_NUMBER,
    "x": OutreachOutcome.REFUSED,
    "d": OutreachOutcome.EMERGENCY_SERVICES_DISPATCHED,
    "e": OutreachOutcome.REFERRED_TO_ED,
}
# esc:log:CASE (the page's button), esc:lm:CASE:M (a method), esc:lo:CASE:M:O (an outcome)
DATA = re.compile(
    r"^esc:(?:log:([0-9]{1,9})|lm:([0-9]{1,9}):([a-z])|lo:([0-9]{1,9}):([a-z]):([a-z]))$"
)


def log_button(case_id: int) -> InlineKeyboardButton:
    return InlineKeyboardButton(C_("Log contact"), callback_data=f"esc:log:{case_id}")


def _rows(buttons: list[InlineKeyboardButton]) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def method_keyboard(case_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        _rows(
            [
                InlineKeyboardButton(C_(METHODS[m]), callback_data=f"esc:lm:{case_id}:{code}")
                for code, m in METHOD_CODES.items()
            ]
        )
    )


def outcome_keyboard(case_id: int, method_code: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        _rows(
            [
                InlineKeyboardButton(
                    C_(OUTCOMES[o]), callback_data=f"esc:lo:{case_id}:{method_code}:{code}"
                )
                for code, o in OUTCOME_CODES.items()
            ]
        )
    )


def ask_method(case_id: int) -> str:
    return C_("Case #{id}: how did you try to reach the patient?").format(id=case_id)


def ask_outcome(case_id: int, method: OutreachMethod) -> str:
    return C_("Case #{id}, {method}: what came of it?").format(
        id=case_id, method=C_(METHODS[method])
    )


def logged_text(
    case_id: int, method: OutreachMethod, outcome: OutreachOutcome, due: str | None
) -> str:
    """What the clinician reads once the attempt is recorded."""
    recorded = dict(id=case_id, method=C_(METHODS[method]), outcome=C_(OUTCOMES[outcome]))
    if due:
        return C_(
            "✓ Recorded on case #{id}: {method} — {outcome}. Next outreach target: {due}."
        ).format(due=due, **recorded)
    return C_("✓ Recorded on case #{id}: {method} — {outcome}.").format(**recorded)
