"""Every Bot API call but getUpdates, handled by its kind (PTB's rate-limiter hook).

Telegram allows about 30 messages a second per bot and about one a second per chat. Every
send, edit and callback answer takes a slot from one shared pace, a token bucket holding
`burst` slots: after a quiet spell the first few leave at once (a tap's callback answer, its
crisis card and its page do not queue behind each other, issue 32), then one a slot, so any
second carries at most `per_second` + `burst` - 1 of them. When a routine check-in and
a safety message (a crisis card, a page, an answer to a patient who is talking) both wait, the
safety message gets the next slot. Routine sends also keep one second apart within a chat. A
429 pauses all sending for its `retry_after`, then the same request is tried again; an edit, a
callback answer or a setup call is also tried again after a 5xx or a timeout, and an edit that
would change nothing is not sent (`bot.messaging.api_calls` holds the kinds and the memory of
what each message shows). Several instances share the limit by configuration: give each
`AFTERCARE_SEND_RATE_PER_SECOND` = 30 / instances; 0 turns pacing off, not the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import BaseRateLimiter

from bot.messaging.api_calls import CallKind, KeyedLocks, ShownMessages, kind_of

log = logging.getLogger(__name__)

ROUTINE = {"priority": "routine"}  # pass as rate_limit_args= for routine check-ins
FAILURE_BACKOFF = (0.3, 1.0, 2.0)  # seconds before each new try of an idempotent call (an
# answered question's edit holds its next question back by at most their sum)
NOT_MODIFIED = "message is not modified"
BURST = 3  # a tap's callback answer, crisis card and page: sent together after a quiet spell


class PriorityRateLimiter(BaseRateLimiter[dict[str, Any]]):
    """One pace for every send; urgent requests are served before routine ones.

    `burst`: how many slots a quiet spell saves up (at least 1, which is a strict pace).
    `per_second=0`: no pacing (tests of other things, or a local Bot API server without
    limits); retries and skipped no-op edits still apply.
    """

    def __init__(
        self,
        *,
        per_second: float = 30.0,
        burst: int = BURST,
        chat_interval: float = 1.0,
        max_retries: int = 2,
        failure_backoff: tuple[float, ...] = FAILURE_BACKOFF,
    ) -> None:
        if per_second < 0:
            raise ValueError("per_second must not be negative")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.interval = 1.0 / per_second if per_second else 0.0
        self.saved = (burst - 1) * self.interval  # how far ahead of the pace a slot may be
        self.paced = per_second > 0
        self.chat_interval = chat_interval if self.paced else 0.0
        self.max_retries = max_retries
        self.failure_backoff = failure_backoff
        self.shown = ShownMessages()
        self.skipped_edits = 0  # edits not sent because they would change nothing
        self._edit_locks = KeyedLocks()
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._routine: deque[asyncio.Future[None]] = deque()
        self._wake = asyncio.Event()
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._chat_next: dict[int, float] = {}
        self._scheduler: asyncio.Task[None] | None = None

    async def initialize(self) -> None:
        if self._scheduler is None:
            self._scheduler = asyncio.create_task(self._hand_out_slots(), name="rate-limiter")

    async def shutdown(self) -> None:
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
            self._scheduler = None
        for waiting in (*self._urgent, *self._routine):
            waiting.cancel()
        self._urgent.clear()
        self._routine.clear()

    @property
    def waiting(self) -> tuple[int, int]:
        """(urgent, routine) requests waiting for a slot."""
        return len(self._urgent), len(self._routine)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Skip a no-op edit; wait for a slot (urgent first); call; ride out a 429 by pausing
        everyone, and a 5xx or a timeout of an idempotent call by trying again."""
        kind = kind_of(endpoint)
        if kind is not CallKind.EDIT:
            return await self._call(callback, args, kwargs, endpoint, data, rate_limit_args, kind)
        # Edits of one message go one at a time, so the second of two identical edits sees
        # what the first made the message show (and is skipped) instead of being refused.
        async with self._edit_locks.hold(self.shown.key(data)):
            if self.shown.unchanged(endpoint, data):
                self.skipped_edits += 1
                log.debug("api.edit_skipped endpoint=%s: the message already shows it", endpoint)
                return True
            return await self._call(callback, args, kwargs, endpoint, data, rate_limit_args, kind)

    async def _call(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
        kind: CallKind,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        urgent = (rate_limit_args or {}).get("priority") != "routine"
        if kind is CallKind.SEND and not urgent:
            await self._space_chat(data.get("chat_id"))
        failures = 0
        for attempt in range(self.max_retries + len(self.failure_backoff) + 1):
            if kind.paced and self.paced:
                await self._slot(urgent=urgent)
            elif self._paused_until > time.monotonic():
                await asyncio.sleep(self._paused_until - time.monotonic())
            try:
                result = await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt - failures >= self.max_retries:
                    raise
                wait = exc.retry_after
                seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
                log.warning("api.rate_limited endpoint=%s seconds=%s", endpoint, seconds)
                self._paused_until = max(self._paused_until, time.monotonic() + seconds)
                # no burst when the pause ends: Telegram has just said we were too fast
                self._next_slot = max(self._next_slot, self._paused_until + self.saved)
            except BadRequest as exc:
                if kind is CallKind.EDIT and NOT_MODIFIED in exc.message.lower():
                    self.shown.after(endpoint, data, True)  # it shows that already
                elif kind is CallKind.EDIT:
                    self.shown.forget(data)
                raise
            except NetworkError as exc:  # a 5xx or a timeout (TimedOut is a NetworkError)
                if kind is CallKind.EDIT:
                    self.shown.forget(data)
                if not kind.retries_failures or failures >= len(self.failure_backoff):
                    raise
                log.warning(
                    "api.retry endpoint=%s error=%s try=%s", endpoint, exc.message, failures + 2
                )
                await asyncio.sleep(self.failure_backoff[failures])
                failures += 1
            else:
                if kind is CallKind.SEND or kind is CallKind.EDIT:
                    self.shown.after(endpoint, data, result)
                return result
        raise AssertionError("unreachable")

    async def _space_chat(self, chat_id: object) -> None:
        """Routine sends to one chat keep `chat_interval` apart."""
        if not isinstance(chat_id, int) or self.chat_interval <= 0:
            return
        now = time.monotonic()
        start = max(now, self._chat_next.get(chat_id, 0.0))
        self._chat_next[chat_id] = start + self.chat_interval
        if start > now:
            await asyncio.sleep(start - now)
        if len(self._chat_next) > 10_000:  # forget chats whose spacing has long passed
            self._chat_next = {c: t for c, t in self._chat_next.items() if t > now}

    async def _slot(self, *, urgent: bool) -> None:
        if self._scheduler is None:
            await self.initialize()
        now = time.monotonic()
        if not self._urgent and not self._routine and self._free_at() <= now:
            # Nobody waits and a slot is free: taken here, not a turn of the event loop later
            # through the scheduler (a few ms in a busy loop, on every tap's answer and page).
            self._next_slot = max(now, self._next_slot) + self.interval
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._routine).append(granted)
        self._wake.set()
        await granted

    def _free_at(self) -> float:
        """When the next slot is free (monotonic): `saved` ahead of the pace, not in a pause."""
        return max(self._next_slot - self.saved, self._paused_until)

    async def _hand_out_slots(self) -> None:
        """Release one waiting request per slot, urgent ones first (a token bucket kept as
        the time the pace is next free, `_next_slot`: a request may go up to `saved` seconds
        ahead of it, which is `burst` - 1 slots saved up while nothing was sent)."""
        while True:
            if not self._urgent and not self._routine:
                self._wake.clear()
                await self._wake.wait()
                continue
            now = time.monotonic()
            due = self._free_at()
            if due > now:
                await asyncio.sleep(due - now)
                continue
            queue = self._urgent if self._urgent else self._routine
            granted = queue.popleft()
            if granted.done():  # its caller was cancelled
                continue
            granted.set_result(None)
            self._next_slot = max(now, self._next_slot) + self.interval
