"""The test-facing side of BotApiSandbox: acting as users, reading what the bot did, faults."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from sandbox.objects import Delay, Fault, Held, RecordedCall
from sandbox.pulse import Pulse
from sandbox.state import SandboxState

T = TypeVar("T")


class ScriptingMixin:
    """User actions, inspection, waits and fault injection over the sandbox's state."""

    state: SandboxState
    _pulse: Pulse

    # ----------------------------------------------------------------- the user side

    def add_user(self, user_id: int, first_name: str = "User", username: str | None = None) -> None:
        """A person with a private chat (chat id == user id); idempotent."""
        self.state.add_user(user_id, first_name, username)

    def send_text(self, user_id: int, text: str) -> int:
        """The user sends a text message; returns the update_id."""
        return self.state.send_text(user_id, text)

    def tap(
        self,
        user_id: int,
        message_id: int,
        *,
        data: str | None = None,
        button_text: str | None = None,
        forge: bool = False,
    ) -> str:
        """The user presses an inline button (forge=True sends any data); returns the query id."""
        return self.state.tap(user_id, message_id, data, button_text, forge)

    def enqueue_update(self, update: dict[str, Any]) -> int:
        """Queue a hand-made update (update_id assigned if missing); returns its id."""
        return self.state.enqueue_raw(update)

    def redeliver(self, update_id: int) -> None:
        """Deliver an already delivered update again, with the same update_id."""
        self.state.redeliver(update_id)

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sends and edits to their chat get 403."""
        self.state.user(user_id).blocked = True

    def deactivate(self, user_id: int) -> None:
        """The user deletes their account: sends and edits get 403 "user is deactivated"."""
        self.state.user(user_id).deactivated = True

    def unblock(self, user_id: int) -> None:
        """The user unblocks the bot (and is active again)."""
        user = self.state.user(user_id)
        user.blocked = user.deactivated = False

    # ----------------------------------------------------------------- what the bot did

    @property
    def calls(self) -> list[RecordedCall]:
        """Every request answered, in the order answered."""
        return self.state.calls

    def calls_to(self, method: str) -> list[RecordedCall]:
        """The recorded requests to one method (case-insensitive)."""
        return [call for call in self.state.calls if call.method.lower() == method.lower()]

    def chat(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's live messages in a chat, edits applied, in order."""
        return self.state.bot_messages(chat_id)

    def last_message(self, chat_id: int) -> dict[str, Any] | None:
        """The bot's latest live message in a chat."""
        messages = self.state.bot_messages(chat_id)
        return messages[-1] if messages else None

    def reply_keyboard(self, chat_id: int) -> dict[str, Any] | None:
        """The reply keyboard the bot currently shows in a chat, if any."""
        chat = self.state.chats.get(chat_id)
        return chat.reply_keyboard if chat else None

    def callback_answer(self, query_id: str) -> dict[str, Any] | None:
        """How the bot answered a callback query (text, show_alert, url), if it did."""
        return self.state.query_answers.get(query_id)

    def file_content(self, file_id: str) -> bytes | None:
        """The bytes the bot uploaded under a file_id."""
        stored = self.state.files.get(file_id)
        return stored.data if stored else None

    async def wait_for_message(
        self,
        chat_id: int,
        contains: str | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the public API
        after: int = 0,
    ) -> dict[str, Any]:
        """The first bot message after `after` containing `contains`, waiting up to `timeout`."""
        found = await self._wait_until(
            lambda: self.state.find_message(chat_id, contains, after), timeout
        )
        if found is None:
            raise TimeoutError(
                f"no bot message containing {contains!r} (after #{after}) in chat {chat_id}"
                f" within {timeout}s; the chat holds:\n{self.state.describe_chat(chat_id)}"
            )
        return found

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[RecordedCall], bool] | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the public API
    ) -> RecordedCall:
        """The first recorded call to `method` matching `predicate`, waiting up to `timeout`."""

        def probe() -> RecordedCall | None:
            calls = self.calls_to(method)
            return next((c for c in calls if predicate is None or predicate(c)), None)

        found = await self._wait_until(probe, timeout)
        if found is None:
            seen = ", ".join(f"{c.method}={c.status}" for c in self.calls[-20:]) or "none"
            raise TimeoutError(f"no matching {method} call within {timeout}s; last calls: {seen}")
        return found

    async def _wait_until(self, probe: Callable[[], T | None], seconds: float) -> T | None:
        """Re-run `probe` on every change until it returns something or time runs out."""
        deadline = time.monotonic() + seconds
        while True:
            found = probe()
            remaining = deadline - time.monotonic()
            if found is not None or remaining <= 0:
                return found
            await self._pulse.wait(remaining)

    # ----------------------------------------------------------------- faults

    def fail_next(
        self,
        method: str,
        *,
        status: int,
        times: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
        chat_id: int | None = None,
    ) -> None:
        """Answer the next `times` matching requests with an error instead."""
        self.state.faults.append(Fault(method, status, times, retry_after, description, chat_id))

    def delay_next(
        self, method: str, seconds: float, *, times: int = 1, chat_id: int | None = None
    ) -> None:
        """Sleep `seconds` before handling the next `times` requests to a method (to a chat)."""
        self.state.delays.append(Delay(method, seconds, times, chat_id))

    def hold_next(self, method: str, *, chat_id: int | None = None) -> Held:
        """Hold the next request to a method (to a chat) unanswered until `release()` (or the
        sandbox stops); it is recorded once answered, as every call."""
        held = Held()
        self.state.delays.append(Delay(method, 0.0, 1, chat_id, held))
        return held
