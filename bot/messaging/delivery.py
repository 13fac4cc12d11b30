"""Sending to Telegram with one honest answer: sent, retry later, unreachable, or failed."""

from __future__ import annotations

import logging
import random
import warnings
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from telegram import CallbackQuery, Message
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import ExtBot
from telegram.warnings import PTBUserWarning

from bot.domain.delivery import Delivery, Outcome  # pure values; still importable from here
from bot.messaging import questions

# `send_question` calls sendMessage through `do_api_request` on purpose (see there); PTB's
# nudge towards `Bot.send_message` is expected for that one method.
warnings.filterwarnings(
    "ignore", message=r"Please use 'Bot\.sendMessage' instead", category=PTBUserWarning
)

log = logging.getLogger(__name__)

NOT_MODIFIED = "message is not modified"
BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=5)


def backoff(attempt: int, *, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with full jitter, capped."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** min(attempt, 16)))
    return timedelta(seconds=(rng or random).uniform(0.5, 1.0) * ceiling.total_seconds())


def _unreachable(error: TelegramError) -> bool:
    text = error.message.lower()
    return isinstance(error, Forbidden) or "chat not found" in text or "user not found" in text


def _message_id(sent: Message | Mapping[str, Any] | bool) -> int | None:
    if isinstance(sent, Message):
        return sent.message_id
    if isinstance(sent, Mapping) and isinstance(sent.get("message_id"), int):
        return int(sent["message_id"])
    return None


async def deliver(
    send: Awaitable[Message | Mapping[str, Any] | bool], *, what: str, attempt: int = 0
) -> Delivery:
    """Await one Bot API send and classify what happened; never raises a TelegramError."""
    try:
        return Delivery(Outcome.SENT, message_id=_message_id(await send))
    except RetryAfter as exc:
        wait = exc.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        log.warning("send.rate_limited what=%s retry_after=%s", what, seconds)
        return Delivery(Outcome.RETRY, error=str(exc), retry_after=timedelta(seconds=seconds))
    except BadRequest as exc:
        if NOT_MODIFIED in exc.message.lower():
            # An edit to what the message already says (a double tap): nothing to change.
            log.info("send.unchanged what=%s", what)
            return Delivery(Outcome.SENT)
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


def refused_button(delivery: Delivery) -> bool:
    """Telegram refused a message for its button (a URL button to a host it will not link)."""
    return delivery.outcome is Outcome.FAILED and "button" in (delivery.error or "").lower()


async def deliver_markup(
    send: Callable[[Any], Awaitable[Message | Mapping[str, Any] | bool]],
    markup: Any,
    fallback: Any,
    *,
    what: str,
) -> Delivery:
    """Send with `markup`; if Telegram refuses its URL button (the console link), once more
    with `fallback`: a page must never be lost to its convenience link."""
    result = await deliver(send(markup), what=what)
    if markup is not fallback and refused_button(result):
        log.warning("send.button_refused what=%s: sent again without the console link", what)
        result = await deliver(send(fallback), what=what)
    return result


async def send_question(
    bot: ExtBot[Any],
    chat_id: int,
    text: str,
    *,
    checkin_id: int,
    item_id: str,
    rate_limit_args: Any = None,
) -> Mapping[str, Any]:
    """sendMessage of one question with its answer buttons; returns the raw result.

    Every check-in, reminder and next question goes this way, so it is the send path that
    must sustain 500 a second. `Bot.send_message` would build PTB objects for the eleven
    buttons and parse the whole echoed Message back, keyboard included: about 0.7 ms of a
    2 ms send (bench/README.md, throughput). This sends the same request through PTB's own
    request path (`do_api_request`: same transport, rate limiter and errors, so `deliver`
    classifies failures alike) and keeps the JSON result, of which only message_id is used.
    """
    result = await bot.do_api_request(
        "sendMessage",
        api_kwargs={
            "chat_id": chat_id,
            "text": text,
            "reply_markup": questions.keyboard_json(checkin_id, item_id),
        },
        rate_limit_args=rate_limit_args,
    )
    if not isinstance(result, Mapping):
        raise TelegramError(f"sendMessage returned {type(result).__name__}, not a message")
    return result


async def answer_query(
    query: CallbackQuery, text: str | None = None, *, alert: bool = False
) -> bool:
    """Answer a button press; False if Telegram did not take it (e.g. answered before, by an
    earlier try of the update). Never fails its caller: the answer only stops the button's
    spinner, and the tap's effects (the stored answer, the next question) must go on whatever
    Telegram says (the rate limiter has already tried again after a 429, a 5xx or a timeout)."""
    try:
        return bool(await query.answer(text, show_alert=alert))
    except BadRequest as exc:
        too_old = ("query is too old", "query id is invalid")
        if any(words in exc.message.lower() for words in too_old):
            log.info("callback.too_old query=%s", query.id)
        else:
            log.warning("callback.answer_refused query=%s description=%s", query.id, exc.message)
    except TelegramError as exc:
        log.warning(
            "callback.answer_failed query=%s error=%s: %s", query.id, type(exc).__name__, exc
        )
    return False
