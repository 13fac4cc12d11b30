"""How often one client address may look up a secret link (sign-in, acknowledge). Pure: the
time is passed in.

A fixed window per address: `limit` lookups in each `window`; past that, refused until the
window ends (the answer's Retry-After). A refusal is reported `first` once per window, so a
flood of guesses writes one log line, not one per guess. Addresses whose window has passed are
forgotten, so memory stays bounded by the addresses seen in one window (and by `max_keys`:
past it the oldest windows are dropped, which can only let a client through early, never lock
one out for longer).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0  # whole seconds until the window ends (refusals only)
    first: bool = False  # the first refusal of this window (log it; stay quiet after)


@dataclass
class _Window:
    started: float
    count: int = 0
    refused: int = 0


class Throttle:
    def __init__(self, *, limit: int, window: float, max_keys: int = 100_000) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a throttle needs a positive limit and window")
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    def __len__(self) -> int:
        return len(self._windows)

    def check(self, key: str, now: float) -> Verdict:
        """Count one lookup by `key` at `now` (seconds, monotonic); whether it may go ahead."""
        self._forget_before(now - self.window)
        current = self._windows.get(key)
        if current is None or now - current.started >= self.window:
            current = _Window(started=now)
            self._windows[key] = current
            self._windows.move_to_end(key)
        if current.count < self.limit:
            current.count += 1
            return Verdict(allowed=True)
        current.refused += 1
        wait = max(1, math.ceil(current.started + self.window - now))
        return Verdict(allowed=False, retry_after=wait, first=current.refused == 1)

    def refused_in_window(self, key: str) -> int:
        found = self._windows.get(key)
        return found.refused if found is not None else 0

    def _forget_before(self, cutoff: float) -> None:
        while self._windows:
            key, oldest = next(iter(self._windows.items()))
            if oldest.started > cutoff and len(self._windows) < self.max_keys:
                return
            del self._windows[key]
