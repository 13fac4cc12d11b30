"""What every outbox event's body shares: its actions and one-line summaries. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.clinic_escalation import PagingConfig
from bot.i18n import C_

ACTIONS = ("trigger", "acknowledge", "resolve")
EVENT_ID_HEADER = "X-Aftercare-Event-Id"


def action_of(action: str) -> str:
    """`action` if it is an event action, else ValueError."""
    if action not in ACTIONS:
        raise ValueError(f"unknown event action {action!r} (one of {', '.join(ACTIONS)})")
    return action


def one_line(summary: str, limit: int) -> str:
    """`summary` on one line, at most `limit` characters (an ellipsis marks a cut)."""
    line = " ".join(summary.split()) or C_("Aftercare case")
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True)
class TriggerFacts:
    """What a channel's trigger may say: the summary only for third parties, never the
    patient's words (the page's text is for a receiver the clinic runs)."""

    paging: PagingConfig
    clinic_id: str
    routing_key: str | None
    case_id: int
    level: str
    summary: str
    reference: str
    text: str
    ack_url: str | None


@dataclass(frozen=True)
class FollowUpFacts:
    """An acknowledge or resolve after a trigger: the trigger's target and body."""

    action: str
    clinic_id: str
    case_id: int
    level: str
    routing_key: str | None
    trigger_body: dict[str, Any]
