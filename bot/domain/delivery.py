"""What one send did: sent, retry later, unreachable, failed, or never handed over.

Here rather than beside the Telegram code that produces it, so the services that record a
delivery (bot/services/deliveries.py) need not know Telegram.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # 429, 5xx, timeout, connection: try again later
    UNREACHABLE = "unreachable"  # 403 blocked / deactivated, or the chat is gone
    FAILED = "failed"  # any other 400: retrying would not help
    NOT_SENT = "not_sent"  # never handed to Telegram (shutting down): free for the next claim


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    message_id: int | None = None
    error: str | None = None
    retry_after: timedelta | None = None
