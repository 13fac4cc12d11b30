"""Every Bot API method by its kind, and what each message the bot sent now shows.

One table says how a call is treated when Telegram is slow or refuses (PTB's rate-limiter
hook, `bot.messaging.ratelimit`, applies it to every call but getUpdates):

- SEND (sendMessage, sendPhoto, copy, forward): paced; a 429 waits out `retry_after` and
  sends again. A 5xx or a timeout is the caller's to judge (the message may have arrived):
  `bot.messaging.delivery` turns it into a RETRY the caller acts on.
- EDIT (editMessage*, deleteMessage): paced; a 429, a 5xx and a timeout are tried again
  (an edit is idempotent); an edit that would change nothing is not sent at all.
- ANSWER (answerCallbackQuery): paced, never routine; a 429, a 5xx and a timeout are tried
  again. Its caller (`bot.messaging.delivery.answer_query`) never lets a failed answer fail
  a handler.
- SETUP (getMe, setMyCommands, setWebhook, …): not paced; a 429, a 5xx and a timeout are tried
  again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from telegram import TelegramObject


class CallKind(StrEnum):
    SEND = "send"
    EDIT = "edit"
    ANSWER = "answer"
    SETUP = "setup"

    @property
    def paced(self) -> bool:
        """Counts against Telegram's ~30 messages a second."""
        return self is not CallKind.SETUP

    @property
    def retries_failures(self) -> bool:
        """A 5xx or a timeout is tried again here (idempotent: no duplicate can result)."""
        return self is not CallKind.SEND


def kind_of(endpoint: str) -> CallKind:
    """How a Bot API method (as PTB names its endpoint, e.g. `sendMessage`) is treated."""
    name = endpoint.lower()
    if name.startswith(("send", "copy", "forward")):
        return CallKind.SEND
    if name.startswith(("edit", "delete")) and "message" in name:
        return CallKind.EDIT
    if name == "answercallbackquery":
        return CallKind.ANSWER
    return CallKind.SETUP


UNKNOWN = object()  # a message whose text this instance did not see set


@dataclass(frozen=True)
class Shown:
    """What a message shows: its text (as sent, with its parse mode) and its buttons."""

    text: object
    markup: str | None


def _fingerprint(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, TelegramObject):
        value = value.to_dict()
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and not value.get("inline_keyboard"):
        return None  # an empty keyboard shows as no keyboard
    return json.dumps(value, sort_keys=True, default=str)


MessageKey = tuple[str, int]


def _key(data: dict[str, Any]) -> MessageKey | None:
    chat, message = data.get("chat_id"), data.get("message_id")
    if chat is None or not isinstance(message, int):
        return None
    return str(chat), message


def _text(data: dict[str, Any]) -> object:
    return (data.get("text"), data.get("parse_mode"))


class ShownMessages:
    """What this instance last made each of its messages show, so that an edit that would not
    change it is skipped (Telegram refuses it as "message is not modified" and counts it).

    Only this instance's own successful sends and edits are remembered, so a skip is sure for
    what this instance did; another instance's edit in between can at worst cost one refused
    call, never a skipped change: an instance that did not see a message set knows nothing of it.
    """

    def __init__(self, size: int = 50_000) -> None:
        self._size = size
        self._shown: OrderedDict[tuple[str, int], Shown] = OrderedDict()

    def __len__(self) -> int:
        return len(self._shown)

    @staticmethod
    def key(data: dict[str, Any]) -> MessageKey | None:
        """The message a call's parameters name (chat, message id), if they name one."""
        return _key(data)

    def unchanged(self, endpoint: str, data: dict[str, Any]) -> bool:
        """The edit would leave the message as this instance last set it."""
        key = _key(data)
        shown = self._shown.get(key) if key is not None else None
        if shown is None:
            return False
        markup = _fingerprint(data.get("reply_markup"))
        if endpoint == "editMessageReplyMarkup":
            return shown.markup == markup
        if endpoint == "editMessageText":
            return shown.text == _text(data) and shown.markup == markup
        return False

    def after(self, endpoint: str, data: dict[str, Any], result: Any) -> None:
        """A call succeeded (or was refused as not modified): remember what the message shows."""
        if endpoint == "sendMessage" and isinstance(result, dict):
            chat = result.get("chat", {}).get("id", data.get("chat_id"))
            message = result.get("message_id")
            if chat is not None and isinstance(message, int):
                shown = Shown(_text(data), _fingerprint(data.get("reply_markup")))
                self._remember((str(chat), message), shown)
            return
        key = _key(data)
        if key is None:
            return
        markup = _fingerprint(data.get("reply_markup"))
        if endpoint == "editMessageText":
            self._remember(key, Shown(_text(data), markup))
        elif endpoint == "editMessageReplyMarkup":
            old = self._shown.get(key)
            self._remember(key, Shown(old.text if old else UNKNOWN, markup))
        elif endpoint == "deleteMessage" or endpoint.startswith("edit"):
            self.forget(data)

    def forget(self, data: dict[str, Any]) -> None:
        """What the message shows is no longer known (an edit failed, or it is gone)."""
        key = _key(data)
        if key is not None:
            self._shown.pop(key, None)

    def _remember(self, key: tuple[str, int], shown: Shown) -> None:
        self._shown[key] = shown
        self._shown.move_to_end(key)
        while len(self._shown) > self._size:
            self._shown.popitem(last=False)


class KeyedLocks:
    """One asyncio lock per message, held only while some call uses it (none are kept)."""

    def __init__(self) -> None:
        self._locks: dict[MessageKey, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, key: MessageKey | None) -> AsyncIterator[None]:
        if key is None:
            yield
            return
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
