"""Value objects of the Bot API sandbox: errors, recorded calls, uploads, faults, users, chats."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from sandbox.constants import FAULT_DESCRIPTIONS, JsonDict


def _applies(wanted: str, times: int, chat_id: int | None, method: str, params: JsonDict) -> bool:
    """Whether a scripted fault or delay still applies to a request (method, and chat if set)."""
    if times <= 0 or wanted.lower() != method.lower():
        return False
    return chat_id is None or params.get("chat_id") == chat_id


class ApiError(Exception):
    """A Bot API error answer: HTTP status, Telegram description and optional parameters."""

    def __init__(self, code: int, description: str, parameters: JsonDict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self) -> JsonDict:
        """The JSON body Telegram sends for this error."""
        body: JsonDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(reason: str) -> ApiError:
    """A 400 error with Telegram's "Bad Request: " prefix."""
    return ApiError(400, f"Bad Request: {reason}")


@dataclass(frozen=True)
class RecordedCall:
    """One request the bot made to the sandbox and the answer it got."""

    method: str
    params: dict[str, Any]
    at: float
    status: int
    response: dict[str, Any]
    token: str


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    body: bytes

    def describe(self) -> JsonDict:
        """How the upload appears in recorded call parameters."""
        return {"file_name": self.filename, "mime_type": self.content_type, "size": len(self.body)}


@dataclass(frozen=True)
class StoredFile:
    """A file the bot sent (uploaded bytes, or a URL Telegram would have fetched)."""

    file_id: str
    file_unique_id: str
    file_name: str | None
    mime_type: str | None
    data: bytes | None


@dataclass
class Fault:
    """An error answer to give the next `times` matching requests."""

    method: str
    status: int
    times: int
    retry_after: int | None = None
    description: str | None = None
    chat_id: int | None = None

    def matches(self, method: str, params: JsonDict) -> bool:
        """Whether this fault applies to a request."""
        return _applies(self.method, self.times, self.chat_id, method, params)

    def error(self) -> ApiError:
        """The error answer this fault produces."""
        retry_after = self.retry_after
        if retry_after is None and self.status == 429:
            retry_after = 1
        description = self.description or _fault_description(self.status, retry_after)
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        return ApiError(self.status, description, parameters)


def _fault_description(status: int, retry_after: int | None) -> str:
    """Telegram's wording for an injected error status."""
    if status == 429:
        return f"Too Many Requests: retry after {retry_after}"
    if status in FAULT_DESCRIPTIONS:
        return FAULT_DESCRIPTIONS[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


@dataclass
class Delay:
    """Sleep this long before answering the next `times` requests to a method (and chat); or,
    `held`, wait until it is released."""

    method: str
    seconds: float
    times: int
    chat_id: int | None = None
    held: Held | None = None

    def matches(self, method: str, params: JsonDict) -> bool:
        """Whether this delay applies to a request."""
        return _applies(self.method, self.times, self.chat_id, method, params)


@dataclass
class Held:
    """A request held unanswered (`BotApiSandbox.hold_next`): `arrived` is set when it is in,
    and it is answered once `release()` is called."""

    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()


@dataclass
class User:
    """A person talking to the bot in a private chat."""

    id: int
    first_name: str
    username: str | None = None
    blocked: bool = False
    deactivated: bool = False

    def as_dict(self) -> JsonDict:
        """The Telegram User object."""
        user: JsonDict = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            user["username"] = self.username
        return user


@dataclass
class Chat:
    """A chat: its Telegram Chat object and every live message, user and bot, by id."""

    info: JsonDict
    messages: dict[int, JsonDict] = field(default_factory=dict)
    next_message_id: int = 1
    reply_keyboard: JsonDict | None = None

    def allocate_id(self) -> int:
        """The next message id of this chat."""
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


@dataclass
class QueuedUpdate:
    """An undelivered or unconfirmed update; `pinned` survives one offset confirmation."""

    update: JsonDict
    pinned: bool = False

    @property
    def update_id(self) -> int:
        """The update's id."""
        return int(self.update["update_id"])


@dataclass
class Webhook:
    """The active webhook."""

    url: str
    secret: str | None


@dataclass(frozen=True)
class WebhookAttempt:
    """One POST of an update to the webhook; `error` is None when it was accepted."""

    update_id: int
    at: float
    error: str | None


Handler = Callable[[JsonDict, dict[str, Upload]], Any]
