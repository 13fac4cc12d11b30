"""Sending to Telegram with one honest answer: sent, retry later, unreachable, or failed."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from telegram import Message
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=5)


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # 429, 5xx, timeout, connection: try again later
    UNREACHABLE = "unreachable"  # 403 blocked / deactivated, or the chat is gone
    FAILED = "failed"  # any other 400: retrying would not help


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    message: Message | None = None
    error: str | None = None
    retry_after: timedelta | None = None


def backoff(attempt: int, *, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with full jitter, capped."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** min(attempt, 16)))
    return timedelta(seconds=(rng or random).uniform(0.5, 1.0) * ceiling.total_seconds())


def _unreachable(error: TelegramError) -> bool:
    text = error.message.lower()
    return isinstance(error, Forbidden) or "chat not found" in text or "user not found" in text


async def deliver(send: Awaitable[Message | bool], *, what: str, attempt: int = 0) -> Delivery:
    """Await one Bot API send and classify what happened; never raises a TelegramError."""
    try:
        sent = await send
        return Delivery(Outcome.SENT, message=sent if isinstance(sent, Message) else None)
    except RetryAfter as exc:
        wait = exc.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        log.warning("send.rate_limited what=%s retry_after=%s", what, seconds)
        return Delivery(Outcome.RETRY, error=str(exc), retry_after=timedelta(seconds=seconds))
    except BadRequest as exc:
        if _unreachable(exc):
            return Delivery(Outcome.UNREACHABLE, error=exc.message)
        log.error("send.refused what=%s description=%s", what, exc.message)
        return Delivery(Outcome.FAILED, error=exc.message)
    except Forbidden as exc:
        log.warning("send.unreachable what=%s description=%s", what, exc.message)
        return Delivery(Outcome.UNREACHABLE, error=exc.message)
    except NetworkError as exc:  # includes TimedOut and 5xx
        log.warning("send.retry what=%s error=%s", what, exc.message)
        return Delivery(Outcome.RETRY, error=exc.message, retry_after=backoff(attempt))
    except TelegramError as exc:
        log.error("send.failed what=%s error=%s", what, exc.message)
        return Delivery(Outcome.FAILED, error=exc.message)
