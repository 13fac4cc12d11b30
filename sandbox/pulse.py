"""A broadcast wake-up for everything waiting on sandbox state (long polls, tests, pusher)."""

from __future__ import annotations

import asyncio


class Pulse:
    """A broadcast wake-up: notify() releases everyone currently waiting."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake all current waiters."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seconds: float | None) -> bool:
        """Wait for the next notify(), at most `seconds` (None: forever); False on timeout."""
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            return False
        return True
