"""Sending within Telegram's limits, safety messages first (PTB's rate-limiter hook).

Telegram allows about 30 messages a second per bot and about one a second per chat. Every
send or edit takes a slot from one shared pace; when a routine check-in and a safety message
(a crisis card, a page, an answer to a patient who is talking) both wait, the safety message
gets the next slot. Routine sends also keep one second apart within a chat. A 429 pauses all
sending for its `retry_after`, then the same request is tried again. Several instances share
the limit by configuration: give each `AFTERCARE_SEND_RATE_PER_SECOND` = 30 / instances.
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

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

ROUTINE = {"priority": "routine"}  # pass as rate_limit_args= for routine check-ins
_LIMITED = ("send", "edit", "copy", "forward")


def _is_limited(endpoint: str) -> bool:
    return endpoint.startswith(_LIMITED)


class PriorityRateLimiter(BaseRateLimiter[dict[str, Any]]):
    """One pace for every send; urgent requests are served before routine ones."""

    def __init__(
        self, *, per_second: float = 30.0, chat_interval: float = 1.0, max_retries: int = 2
    ) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.interval = 1.0 / per_second
        self.chat_interval = chat_interval
        self.max_retries = max_retries
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
        """Wait for a slot (urgent first), call, and ride out a 429 by pausing everyone."""
        if not _is_limited(endpoint):
            return await callback(*args, **kwargs)
        urgent = (rate_limit_args or {}).get("priority") != "routine"
        if not urgent:
            await self._space_chat(data.get("chat_id"))
        for attempt in range(self.max_retries + 1):
            await self._slot(urgent=urgent)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt >= self.max_retries:
                    raise
                wait = exc.retry_after
                seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
                log.warning("ratelimit.paused endpoint=%s seconds=%s", endpoint, seconds)
                self._paused_until = max(self._paused_until, time.monotonic() + seconds)
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
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._routine).append(granted)
        self._wake.set()
        await granted

    async def _hand_out_slots(self) -> None:
        """Release one waiting request per slot, urgent ones first."""
        while True:
            if not self._urgent and not self._routine:
                self._wake.clear()
                await self._wake.wait()
                continue
            now = time.monotonic()
            due = max(self._next_slot, self._paused_until)
            if due > now:
                await asyncio.sleep(due - now)
                continue
            queue = self._urgent if self._urgent else self._routine
            granted = queue.popleft()
            if granted.done():  # its caller was cancelled
                continue
            granted.set_result(None)
            self._next_slot = max(now, self._next_slot) + self.interval
