"""In-memory state of the Bot API sandbox: users, chats, messages, updates, faults, records."""

from __future__ import annotations

import bisect
import itertools
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

JsonDict = dict[str, Any]

BOT_ID = 1_000_001
BOT_FIRST_NAME = "Aftercare"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_ALERT_TEXT = 200

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are"
    " exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active;"
    " use deleteWebhook to delete the webhook first"
)
TERMINATED_BY_POLL = (
    "Conflict: terminated by other getUpdates request;"
    " make sure that only one bot instance is running"
)
TERMINATED_BY_WEBHOOK = "Conflict: terminated by setWebhook request"
BLOCKED = "Forbidden: bot was blocked by the user"
DEACTIVATED = "Forbidden: user is deactivated"

FAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
BUTTON_ACTIONS = frozenset(
    {
        "callback_data",
        "url",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "callback_game",
        "pay",
        "web_app",
        "copy_text",
    }
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
MESSAGE_KEYS = ("message", "edited_message", "channel_post", "edited_channel_post")
COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,})?")
BOT_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")


def clone(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars), several times cheaper than
    `copy.deepcopy`, which was half the sandbox's CPU under the throughput benchmark."""
    if isinstance(value, dict):
        return {key: clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clone(item) for item in value]
    return value


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
    """Sleep this long before answering the next `times` requests to a method (and chat)."""

    method: str
    seconds: float
    times: int
    chat_id: int | None = None

    def matches(self, method: str, params: JsonDict) -> bool:
        """Whether this delay applies to a request."""
        return _applies(self.method, self.times, self.chat_id, method, params)


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


def update_type(update: JsonDict) -> str:
    """The kind of an update ("message", "callback_query", ...)."""
    return next((key for key in update if key != "update_id"), "")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


def now() -> int:
    """Unix time, as in Telegram dates."""
    return int(time.time())


def _is_bot_message(message: JsonDict) -> bool:
    """Whether the bot sent this message."""
    return bool(message.get("from", {}).get("id") == BOT_ID)


class SandboxState:
    """Everything the sandbox knows, and the synchronous Bot API methods that change it."""

    def __init__(self, bot_username: str, on_change: Callable[[], None] | None = None) -> None:
        self.bot_username = bot_username
        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.queue: list[QueuedUpdate] = []
        self.history: dict[int, JsonDict] = {}
        self.next_update_id = 1
        self.allowed_updates: list[str] = []
        self.open_queries: set[str] = set()
        self.query_answers: dict[str, JsonDict] = {}
        self.faults: list[Fault] = []
        self.delays: list[Delay] = []
        self.calls: list[RecordedCall] = []
        self.commands: dict[tuple[str, str], list[JsonDict]] = {}
        self.files: dict[str, StoredFile] = {}
        self.webhook: Webhook | None = None
        self.webhook_error: tuple[int, str] | None = None
        self.webhook_attempts: list[WebhookAttempt] = []
        self._on_change = on_change or (lambda: None)
        self._serial = itertools.count(1)
        self.handlers: dict[str, Handler] = {
            "getMe": self.get_me,
            "sendMessage": self.send_message,
            "editMessageText": self.edit_message_text,
            "editMessageCaption": self.edit_message_caption,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "answerCallbackQuery": self.answer_callback_query,
            "sendPhoto": self.send_photo,
            "sendDocument": self.send_document,
            "setMyCommands": self.set_my_commands,
            "getMyCommands": self.get_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "sendChatAction": self.send_chat_action,
            "deleteMessage": self.delete_message,
            "close": self.accept,
            "logOut": self.accept,
        }
        self._canonical = {name.lower(): name for name in [*self.handlers, "getUpdates"]}

    # ----------------------------------------------------------------- plumbing

    def changed(self) -> None:
        """Tell waiters that something changed."""
        self._on_change()

    def canonical(self, method: str) -> str | None:
        """The official spelling of a method name (names are case-insensitive), or None."""
        return self._canonical.get(method.lower())

    def call(self, method: str, params: JsonDict, uploads: dict[str, Upload]) -> Any:
        """Run a synchronous method; raises ApiError for Telegram errors."""
        return self.handlers[method](params, uploads)

    def record(self, call: RecordedCall) -> None:
        """Remember a finished request."""
        self.calls.append(call)
        self.changed()

    def bot_user(self, *, full: bool = False) -> JsonDict:
        """The bot's User object (getMe adds the capability flags)."""
        user: JsonDict = {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": self.bot_username,
        }
        if full:
            user |= {
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
                "can_connect_to_business": False,
                "has_main_web_app": False,
            }
        return user

    # ----------------------------------------------------------------- users and chats

    def add_user(self, user_id: int, first_name: str = "User", username: str | None = None) -> User:
        """Create the user and their private chat, unless they exist."""
        if user_id not in self.users:
            self.users[user_id] = User(user_id, first_name, username)
        info: JsonDict = {"id": user_id, "type": "private", "first_name": first_name}
        if username:
            info["username"] = username
        self._ensure_chat(info)
        return self.users[user_id]

    def _ensure_chat(self, info: JsonDict) -> Chat:
        """The chat with this Chat object's id, created if new."""
        chat_id = int(info["id"])
        if chat_id not in self.chats:
            self.chats[chat_id] = Chat(info=clone(info))
        return self.chats[chat_id]

    def user(self, user_id: int) -> User:
        """The user, created with default names if missing."""
        return self.users.get(user_id) or self.add_user(user_id)

    # ----------------------------------------------------------------- updates

    def push_update(self, update: JsonDict) -> int:
        """Queue an update (update_id assigned if missing); returns its id."""
        update = clone(update)
        if "update_id" not in update:
            update = {"update_id": self.next_update_id, **update}
        update_id = int(update["update_id"])
        self.next_update_id = max(self.next_update_id, update_id + 1)
        self.history[update_id] = clone(update)
        self._insert(QueuedUpdate(update))
        return update_id

    def _insert(self, queued: QueuedUpdate) -> None:
        """Put an update in the queue, ordered by update_id."""
        bisect.insort(self.queue, queued, key=lambda item: item.update_id)
        self.changed()

    def send_text(self, user_id: int, text: str) -> int:
        """A message from the user; commands get a bot_command entity."""
        user = self.user(user_id)
        chat = self.chats[user_id]
        message: JsonDict = {
            "message_id": chat.allocate_id(),
            "from": user.as_dict(),
            "chat": clone(chat.info),
            "date": now(),
            "text": text,
        }
        command = COMMAND_RE.match(text)
        if command:
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": command.end()}]
        chat.messages[message["message_id"]] = message
        return self.push_update({"message": message})

    def tap(
        self, user_id: int, message_id: int, data: str | None, text: str | None, forge: bool
    ) -> str:
        """A press on an inline button of a bot message; returns the callback query id."""
        chat = self.chats.get(user_id)
        message = chat.messages.get(message_id) if chat else None
        if message is None or not _is_bot_message(message):
            raise LookupError(f"no bot message {message_id} in chat {user_id}")
        if forge:
            if data is None:
                raise ValueError("tap(forge=True) needs data=")
            chosen = data
        else:
            chosen = _find_button(message, data, text)
        query_id = str(4_300_000_000_000_000_000 + next(self._serial))
        self.open_queries.add(query_id)
        query = {
            "id": query_id,
            "from": self.user(user_id).as_dict(),
            "message": clone(message),
            "chat_instance": str(abs(user_id) * 2_654_435_761 % 10**19),
            "data": chosen,
        }
        self.push_update({"callback_query": query})
        return query_id

    def enqueue_raw(self, update: JsonDict) -> int:
        """Queue a hand-made update, registering the chats, users and queries it mentions."""
        for key in MESSAGE_KEYS:
            message = update.get(key)
            if isinstance(message, dict) and isinstance(message.get("chat"), dict):
                self._adopt_message(message)
        query = update.get("callback_query")
        if isinstance(query, dict) and "id" in query:
            self.open_queries.add(str(query["id"]))
        return self.push_update(update)

    def _adopt_message(self, message: JsonDict) -> None:
        """Know the chat and sender of a hand-made message, and keep ids increasing."""
        info = message["chat"]
        sender = message.get("from")
        if info.get("type") == "private" and isinstance(sender, dict) and "id" in sender:
            self.add_user(
                int(sender["id"]), sender.get("first_name", "User"), sender.get("username")
            )
        chat = self._ensure_chat(info)
        if isinstance(message.get("message_id"), int):
            chat.next_message_id = max(chat.next_message_id, message["message_id"] + 1)

    def redeliver(self, update_id: int) -> None:
        """Deliver an update again, with the same update_id."""
        if update_id not in self.history:
            raise LookupError(f"no update {update_id} was ever queued")
        for queued in self.queue:
            if queued.update_id == update_id:
                queued.pinned = True
                self.changed()
                return
        self._insert(QueuedUpdate(clone(self.history[update_id]), pinned=True))

    def take_updates(
        self, offset: int | None, limit: int, allowed: list[str] | None
    ) -> list[JsonDict]:
        """getUpdates without the waiting: confirm by offset, then hand out up to `limit`."""
        if allowed is not None:
            self.allowed_updates = list(allowed)
        if offset is not None:
            self._confirm(offset)
        self._drop_unwanted()
        batch = self.queue[:limit]
        for queued in batch:
            queued.pinned = False
        return [clone(queued.update) for queued in batch]

    def _confirm(self, offset: int) -> None:
        """Forget updates below the offset (or all but the last -offset ones)."""
        if offset < 0:
            self.queue = self.queue[offset:]
        else:
            self.queue = [q for q in self.queue if q.pinned or q.update_id >= offset]

    def _drop_unwanted(self) -> None:
        """Forget updates of kinds the bot did not ask for."""
        wanted = set(self.allowed_updates)
        self.queue = [
            q
            for q in self.queue
            if (
                update_type(q.update) in wanted
                if wanted
                else update_type(q.update) not in OPT_IN_UPDATES
            )
        ]

    def next_webhook_update(self) -> JsonDict | None:
        """The update the webhook should receive next, if any."""
        if self.webhook is None:
            return None
        self._drop_unwanted()
        return clone(self.queue[0].update) if self.queue else None

    def webhook_delivered(self, update_id: int, error: str | None, at: float) -> None:
        """Note a webhook POST; an accepted update leaves the queue."""
        self.webhook_attempts.append(WebhookAttempt(update_id, at, error))
        if error is None:
            index = next((i for i, q in enumerate(self.queue) if q.update_id == update_id), None)
            if index is not None:
                del self.queue[index]
        else:
            self.webhook_error = (now(), error)
        self.changed()

    # ----------------------------------------------------------------- faults

    def take_fault(self, method: str, params: JsonDict) -> ApiError | None:
        """Consume the first fault that applies to this request."""
        for fault in self.faults:
            if fault.matches(method, params):
                fault.times -= 1
                self.faults = [f for f in self.faults if f.times > 0]
                return fault.error()
        return None

    def take_delay(self, method: str, params: JsonDict) -> float:
        """Consume the first delay that applies to this request (0 if none)."""
        for delay in self.delays:
            if delay.matches(method, params):
                delay.times -= 1
                self.delays = [d for d in self.delays if d.times > 0]
                return delay.seconds
        return 0.0

    # ----------------------------------------------------------------- inspection

    def bot_messages(self, chat_id: int) -> list[JsonDict]:
        """Copies of the bot's live messages in a chat, edits applied, in order."""
        chat = self.chats.get(chat_id)
        if chat is None:
            return []
        return [clone(m) for m in chat.messages.values() if _is_bot_message(m)]

    def find_message(self, chat_id: int, contains: str | None, after: int) -> JsonDict | None:
        """The first bot message after `after` whose text or caption contains `contains`."""
        for message in self.bot_messages(chat_id):
            body = message.get("text") or message.get("caption") or ""
            if message["message_id"] > after and (contains is None or contains in body):
                return message
        return None

    def describe_chat(self, chat_id: int) -> str:
        """A readable dump of the bot's messages in a chat."""
        lines = [_describe_message(m) for m in self.bot_messages(chat_id)]
        return "\n".join(lines) if lines else "  (no bot messages)"

    # ----------------------------------------------------------------- Bot API methods

    def accept(self, p: JsonDict, uploads: dict[str, Upload]) -> bool:
        """close / logOut: nothing to do."""
        return True

    def get_me(self, p: JsonDict, uploads: dict[str, Upload]) -> JsonDict:
        """getMe."""
        return self.bot_user(full=True)

    def send_message(self, p: JsonDict, uploads: dict[str, Upload]) -> JsonDict:
        """sendMessage."""
        chat = self._writable_chat(p)
        text = _clean_text(p.get("text"))
        if not text:
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise bad_request("message is too long")
        return self._send(chat, p, {"text": text})

    def send_photo(self, p: JsonDict, uploads: dict[str, Upload]) -> JsonDict:
        """sendPhoto."""
        chat = self._writable_chat(p)
        stored = self._media(p, uploads, "photo")
        size: JsonDict = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        size |= {"width": 640, "height": 480, "file_size": len(stored.data or b"")}
        return self._send(chat, p, {"photo": [size], **_caption(p)})

    def send_document(self, p: JsonDict, uploads: dict[str, Upload]) -> JsonDict:
        """sendDocument."""
        chat = self._writable_chat(p)
        stored = self._media(p, uploads, "document")
        document: JsonDict = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if stored.file_name:
            document["file_name"] = stored.file_name
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        document["file_size"] = len(stored.data or b"")
        return self._send(chat, p, {"document": document, **_caption(p)})

    def edit_message_text(self, p: JsonDict, uploads: dict[str, Upload]) -> JsonDict:
        """editMessageText."""
        message = self._editable(p)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text = _clean_text(p.get("text"))
        if not text:
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise bad_request("MESSAGE_TOO_LONG")
        return self._edit(message, {"text": text}, _inline_markup(p))

    def edit_message_caption(self, p: JsonDict, uploads: dict[str, Upload]) -> JsonDict:
        """editMessageCaption."""
        message = self._editable(p)
        if "photo" not in message and "document" not in message:
            raise bad_request("there is no caption in the message to edit")
        return self._edit(message, _caption(p), _inline_markup(p), replace=("caption",))

    def edit_message_reply_markup(self, p: JsonDict, uploads: dict[str, Upload]) -> JsonDict:
        """editMessageReplyMarkup."""
        message = self._editable(p)
        return self._edit(message, {}, _inline_markup(p))

    def delete_message(self, p: JsonDict, uploads: dict[str, Upload]) -> bool:
        """deleteMessage."""
        chat = self._known_chat(p)
        if chat.messages.pop(_message_id(p), None) is None:
            raise bad_request("message to delete not found")
        self.changed()
        return True

    def answer_callback_query(self, p: JsonDict, uploads: dict[str, Upload]) -> bool:
        """answerCallbackQuery; every query can be answered once."""
        query_id = str(p.get("callback_query_id") or "")
        if query_id not in self.open_queries:
            raise ApiError(400, QUERY_TOO_OLD)
        if utf16_len(str(p.get("text") or "")) > MAX_ALERT_TEXT:
            raise bad_request("MESSAGE_TOO_LONG")
        self.open_queries.discard(query_id)
        self.query_answers[query_id] = {k: p[k] for k in ("text", "show_alert", "url") if k in p}
        self.changed()
        return True

    def send_chat_action(self, p: JsonDict, uploads: dict[str, Upload]) -> bool:
        """sendChatAction."""
        self._writable_chat(p)
        if p.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def set_my_commands(self, p: JsonDict, uploads: dict[str, Upload]) -> bool:
        """setMyCommands."""
        commands = p.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("can't parse commands JSON object")
            if not BOT_COMMAND_RE.fullmatch(str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise bad_request("command description is empty")
        self.commands[_commands_key(p)] = clone(commands)
        return True

    def get_my_commands(self, p: JsonDict, uploads: dict[str, Upload]) -> list[JsonDict]:
        """getMyCommands."""
        return clone(self.commands.get(_commands_key(p), []))

    def delete_my_commands(self, p: JsonDict, uploads: dict[str, Upload]) -> bool:
        """deleteMyCommands."""
        self.commands.pop(_commands_key(p), None)
        return True

    def set_webhook(self, p: JsonDict, uploads: dict[str, Upload]) -> bool:
        """setWebhook (an empty url removes the webhook)."""
        url = str(p.get("url") or "")
        if not url:
            return self.delete_webhook(p, uploads)
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get("secret_token")
        if secret is not None and not SECRET_RE.fullmatch(str(secret)):
            raise bad_request("secret token contains unallowed characters")
        if isinstance(p.get("allowed_updates"), list):
            self.allowed_updates = list(p["allowed_updates"])
        if p.get("drop_pending_updates"):
            self.queue.clear()
        self.webhook = Webhook(url, str(secret) if secret is not None else None)
        self.webhook_error = None
        self.changed()
        return True

    def delete_webhook(self, p: JsonDict, uploads: dict[str, Upload]) -> bool:
        """deleteWebhook."""
        if p.get("drop_pending_updates"):
            self.queue.clear()
        self.webhook = None
        self.changed()
        return True

    def get_webhook_info(self, p: JsonDict, uploads: dict[str, Upload]) -> JsonDict:
        """getWebhookInfo."""
        info: JsonDict = {
            "url": self.webhook.url if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.queue),
        }
        if self.webhook is not None:
            info["max_connections"] = 40
            if self.allowed_updates:
                info["allowed_updates"] = list(self.allowed_updates)
            if self.webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = self.webhook_error
        return info

    # ----------------------------------------------------------------- method helpers

    def _known_chat(self, p: JsonDict) -> Chat:
        """The chat named by chat_id, or "chat not found"."""
        chat_id = p.get("chat_id")
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        chat = self.chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def _writable_chat(self, p: JsonDict) -> Chat:
        """A chat the bot may write to (403 if the user blocked the bot or is gone)."""
        chat = self._known_chat(p)
        user = self.users.get(int(chat.info["id"]))
        if user is not None and user.deactivated:
            raise ApiError(403, DEACTIVATED)
        if user is not None and user.blocked:
            raise ApiError(403, BLOCKED)
        return chat

    def _editable(self, p: JsonDict) -> JsonDict:
        """The bot message an edit method targets."""
        if p.get("inline_message_id") is not None:
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self._writable_chat(p)
        message = chat.messages.get(_message_id(p))
        if message is None:
            raise bad_request("message to edit not found")
        if not _is_bot_message(message):
            raise bad_request("message can't be edited")
        return message

    def _send(self, chat: Chat, p: JsonDict, content: JsonDict) -> JsonDict:
        """Validate the markup and reply target, then store a new bot message."""
        markup = _markup(p)
        reply = _reply_target(chat, p)
        message: JsonDict = {
            "message_id": chat.allocate_id(),
            "from": self.bot_user(),
            "chat": clone(chat.info),
            "date": now(),
        }
        if reply is not None:
            message["reply_to_message"] = reply
        message |= content
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        elif markup is not None and "keyboard" in markup:
            chat.reply_keyboard = markup
        elif markup is not None and markup.get("remove_keyboard"):
            chat.reply_keyboard = None
        chat.messages[message["message_id"]] = message
        self.changed()
        return clone(message)

    def _edit(
        self,
        message: JsonDict,
        content: JsonDict,
        markup: JsonDict | None,
        replace: tuple[str, ...] = (),
    ) -> JsonDict:
        """Apply an edit, refusing one that changes nothing."""
        same_content = all(message.get(k) == content.get(k) for k in {*content, *replace})
        if same_content and message.get("reply_markup") == markup:
            raise ApiError(400, NOT_MODIFIED)
        for key in replace:
            message.pop(key, None)
        message |= content
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        message["edit_date"] = now()
        self.changed()
        return clone(message)

    def _media(self, p: JsonDict, uploads: dict[str, Upload], kind: str) -> StoredFile:
        """The file sent as `kind`: an upload, a known file_id, or a URL."""
        value = p.get(kind)
        upload = uploads.get(kind)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value.removeprefix("attach://"))
        if upload is not None:
            return self._store_file(upload.filename, upload.content_type, upload.body)
        if not isinstance(value, str) or not value:
            raise bad_request(f"there is no {kind} in the request")
        if value in self.files:
            return self.files[value]
        if value.startswith(("http://", "https://")):
            return self._store_file(value.rsplit("/", 1)[-1] or None, None, None)
        raise bad_request("wrong file identifier/HTTP URL specified")

    def _store_file(self, name: str | None, mime: str | None, data: bytes | None) -> StoredFile:
        """Remember a sent file under a fresh file_id."""
        serial = next(self._serial)
        stored = StoredFile(f"SANDBOX-FILE-{serial}", f"U{serial}", name, mime, data)
        self.files[stored.file_id] = stored
        return stored


# --------------------------------------------------------------------- pure helpers


def _message_id(p: JsonDict) -> int:
    """The message_id parameter, or "message identifier is not specified"."""
    message_id = p.get("message_id")
    if not isinstance(message_id, int):
        raise bad_request("message identifier is not specified")
    return message_id


def _clean_text(value: Any) -> str:
    """Message text as Telegram keeps it: stripped of surrounding whitespace."""
    return "" if value is None else str(value).strip()


def _caption(p: JsonDict) -> JsonDict:
    """The caption field of a media message (absent when empty)."""
    caption = _clean_text(p.get("caption"))
    if utf16_len(caption) > MAX_CAPTION:
        raise bad_request("message caption is too long")
    return {"caption": caption} if caption else {}


def _markup(p: JsonDict) -> JsonDict | None:
    """The validated reply_markup parameter."""
    markup = p.get("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        _check_inline_keyboard(markup["inline_keyboard"])
    return clone(markup)


def _inline_markup(p: JsonDict) -> JsonDict | None:
    """The reply_markup of an edit, which must be inline."""
    markup = _markup(p)
    if markup is not None and "inline_keyboard" not in markup:
        raise bad_request("inline keyboard expected")
    return markup


def _check_inline_keyboard(rows: Any) -> None:
    """Reject malformed inline keyboards the way Telegram does."""
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(
            'can\'t parse inline keyboard button: field "inline_keyboard" must be of type Array'
        )
    for button in (b for row in rows for b in row):
        if not isinstance(button, dict) or not isinstance(button.get("text"), str):
            raise bad_request(
                'can\'t parse inline keyboard button: Field "text" must be of type String'
            )
        if not BUTTON_ACTIONS & button.keys():
            raise bad_request(
                "can't parse inline keyboard button:"
                " Text buttons are unallowed in the inline keyboard"
            )
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
            raise bad_request("BUTTON_DATA_INVALID")


def _reply_target(chat: Chat, p: JsonDict) -> JsonDict | None:
    """The message being replied to, if the request names one."""
    target = p.get("reply_to_message_id")
    tolerant = bool(p.get("allow_sending_without_reply"))
    parameters = p.get("reply_parameters")
    if isinstance(parameters, dict):
        target = parameters.get("message_id")
        tolerant = bool(parameters.get("allow_sending_without_reply"))
    if target is None:
        return None
    message = chat.messages.get(target) if isinstance(target, int) else None
    if message is None:
        if tolerant:
            return None
        raise bad_request("message to be replied not found")
    return {k: clone(v) for k, v in message.items() if k != "reply_to_message"}


def _commands_key(p: JsonDict) -> tuple[str, str]:
    """Commands are stored per scope and language."""
    scope = p.get("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), str(p.get("language_code") or "")


def _buttons(message: JsonDict) -> Iterator[JsonDict]:
    """Every inline button of a message."""
    for row in message.get("reply_markup", {}).get("inline_keyboard", []):
        yield from row


def _find_button(message: JsonDict, data: str | None, text: str | None) -> str:
    """The callback_data of the button chosen by data and/or visible text."""
    if data is None and text is None:
        raise ValueError("tap() needs data= or button_text=")
    for button in _buttons(message):
        if "callback_data" not in button:
            continue
        if (data is None or button["callback_data"] == data) and (
            text is None or button["text"] == text
        ):
            return str(button["callback_data"])
    offered = [(b.get("text"), b.get("callback_data")) for b in _buttons(message)]
    raise LookupError(
        f"message {message['message_id']} has no button data={data!r} text={text!r};"
        f" buttons: {offered}"
    )


def _describe_message(message: JsonDict) -> str:
    """One line per bot message for timeout dumps."""
    body = message.get("text") or message.get("caption") or ""
    if "photo" in message:
        body = f"[photo] {body}"
    if "document" in message:
        body = f"[document {message['document'].get('file_name', '')}] {body}"
    labels = [f"{b.get('text')}={b.get('callback_data', b.get('url'))}" for b in _buttons(message)]
    buttons = f"  buttons: {' | '.join(labels)}" if labels else ""
    return f"  #{message['message_id']}: {body!r}{buttons}"
