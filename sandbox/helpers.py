"""Pure helpers of the Bot API sandbox: copying JSON, update kinds, message and button lookups."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from typing import Any

from sandbox.constants import BOT_ID, JsonDict


def clone(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars), several times cheaper than
    `copy.deepcopy`, which was half the sandbox's CPU under the throughput benchmark."""
    if isinstance(value, dict):
        return {key: clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clone(item) for item in value]
    return value


def update_type(update: JsonDict) -> str:
    """The kind of an update ("message", "callback_query", ...)."""
    return next((key for key in update if key != "update_id"), "")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


def now() -> int:
    """Unix time, as in Telegram dates."""
    return int(time.time())


def is_bot_message(message: JsonDict) -> bool:
    """Whether the bot sent this message."""
    return bool(message.get("from", {}).get("id") == BOT_ID)


def inline_buttons(message: JsonDict) -> Iterator[JsonDict]:
    """Every inline button of a message."""
    for row in message.get("reply_markup", {}).get("inline_keyboard", []):
        yield from row


def find_button(message: JsonDict, data: str | None, text: str | None) -> str:
    """The callback_data of the button chosen by data and/or visible text."""
    if data is None and text is None:
        raise ValueError("tap() needs data= or button_text=")
    for button in inline_buttons(message):
        if "callback_data" not in button:
            continue
        if (data is None or button["callback_data"] == data) and (
            text is None or button["text"] == text
        ):
            return str(button["callback_data"])
    offered = [(b.get("text"), b.get("callback_data")) for b in inline_buttons(message)]
    raise LookupError(
        f"message {message['message_id']} has no button data={data!r} text={text!r};"
        f" buttons: {offered}"
    )


def describe_message(message: JsonDict) -> str:
    """One line per bot message for timeout dumps."""
    body = message.get("text") or message.get("caption") or ""
    if "photo" in message:
        body = f"[photo] {body}"
    if "document" in message:
        body = f"[document {message['document'].get('file_name', '')}] {body}"
    labels = [
        f"{b.get('text')}={b.get('callback_data', b.get('url'))}" for b in inline_buttons(message)
    ]
    buttons = f"  buttons: {' | '.join(labels)}" if labels else ""
    return f"  #{message['message_id']}: {body!r}{buttons}"


# Listening ports are taken below Linux's ephemeral range (32768-60999 by default), so no
# outgoing connection of any process can be given the port between choosing and binding it
# (a port bound to 0 and closed is free again for exactly that), and each pytest-xdist worker
# has a block of its own, so two workers never choose the same one.
_PORTS_FROM, _BLOCK, _BLOCKS = 20_000, 1_000, 12
_taken: set[int] = set()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now, not handed out before by this process."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) if worker[2:].isdigit() else _BLOCKS - 1
    first = _PORTS_FROM + (index % _BLOCKS) * _BLOCK
    start = os.getpid() % _BLOCK  # another process in the same block starts elsewhere
    for step in range(_BLOCK):
        port = first + (start + step) % _BLOCK
        if port in _taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _taken.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # the block is used up
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
