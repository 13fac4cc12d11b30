"""In-memory state of the Bot API sandbox: users, chats, updates, faults and records.

The Bot API methods that change it live in `sandbox.methods` (MethodsMixin); the value
objects in `sandbox.objects`.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable
from typing import Any

from sandbox.constants import BOT_ID, COMMAND_RE, MESSAGE_KEYS, OPT_IN_UPDATES, JsonDict
from sandbox.helpers import (
    clone,
    describe_message,
    find_button,
    is_bot_message,
    now,
    update_type,
)
from sandbox.methods import MethodsMixin
from sandbox.objects import (
    ApiError,
    Chat,
    Delay,
    Fault,
    Handler,
    QueuedUpdate,
    RecordedCall,
    StoredFile,
    Upload,
    User,
    Webhook,
    WebhookAttempt,
)

__all__ = ["BOT_ID", "ApiError", "RecordedCall", "SandboxState", "WebhookAttempt"]


class SandboxState(MethodsMixin):
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
        self.on_confirm: Callable[[list[int]], None] | None = None  # getUpdates confirmed these
        self._on_change = on_change or (lambda: None)
        self._serial = itertools.count(1)
        self.handlers: dict[str, Handler] = self.method_handlers()
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
        if message is None or not is_bot_message(message):
            raise LookupError(f"no bot message {message_id} in chat {user_id}")
        if forge:
            if data is None:
                raise ValueError("tap(forge=True) needs data=")
            chosen = data
        else:
            chosen = find_button(message, data, text)
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
        before = {q.update_id for q in self.queue}
        if offset < 0:
            self.queue = self.queue[offset:]
        else:
            self.queue = [q for q in self.queue if q.pinned or q.update_id >= offset]
        confirmed = sorted(before - {q.update_id for q in self.queue})
        if confirmed and self.on_confirm is not None:
            self.on_confirm(confirmed)  # before the bot hears back: a test may crash it here

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

    def take_delay(self, method: str, params: JsonDict) -> Delay | None:
        """Consume the first delay that applies to this request (None if none)."""
        for delay in self.delays:
            if delay.matches(method, params):
                delay.times -= 1
                self.delays = [d for d in self.delays if d.times > 0]
                return delay
        return None

    # ----------------------------------------------------------------- inspection

    def bot_messages(self, chat_id: int) -> list[JsonDict]:
        """Copies of the bot's live messages in a chat, edits applied, in order."""
        chat = self.chats.get(chat_id)
        if chat is None:
            return []
        return [clone(m) for m in chat.messages.values() if is_bot_message(m)]

    def find_message(self, chat_id: int, contains: str | None, after: int) -> JsonDict | None:
        """The first bot message after `after` whose text or caption contains `contains`."""
        for message in self.bot_messages(chat_id):
            body = message.get("text") or message.get("caption") or ""
            if message["message_id"] > after and (contains is None or contains in body):
                return message
        return None

    def describe_chat(self, chat_id: int) -> str:
        """A readable dump of the bot's messages in a chat."""
        lines = [describe_message(m) for m in self.bot_messages(chat_id)]
        return "\n".join(lines) if lines else "  (no bot messages)"
