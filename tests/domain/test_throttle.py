"""The per-address lookup throttle: a fixed window, refusals counted, one report per window."""

from __future__ import annotations

import pytest

from bot.domain.throttle import Throttle


def test_the_limit_holds_within_a_window_and_lifts_after_it() -> None:
    throttle = Throttle(limit=3, window=60)
    assert [throttle.check("a", 10.0 + n).allowed for n in range(3)] == [True] * 3
    refused = throttle.check("a", 20.0)
    assert not refused.allowed and refused.retry_after == 50 and refused.first
    again = throttle.check("a", 69.5)
    assert not again.allowed and again.retry_after == 1 and not again.first
    assert throttle.check("a", 70.0).allowed  # the window that began at 10 s has ended
    assert throttle.check("b", 20.0).allowed, "another address has its own count"


def test_only_the_first_refusal_of_a_window_is_reported() -> None:
    throttle = Throttle(limit=1, window=60)
    throttle.check("a", 0.0)
    firsts = [throttle.check("a", 1.0 + n).first for n in range(50)]
    assert firsts == [True] + [False] * 49
    assert throttle.refused_in_window("a") == 50
    throttle.check("a", 61.0)
    assert throttle.check("a", 62.0).first, "a new window reports again"


def test_memory_is_bounded_by_the_addresses_of_one_window() -> None:
    throttle = Throttle(limit=5, window=60, max_keys=1000)
    for n in range(5000):
        throttle.check(f"10.0.{n // 256}.{n % 256}", n * 0.01)
    assert len(throttle) <= 1000
    for n in range(3):
        throttle.check(f"late-{n}", 10_000.0)
    assert len(throttle) == 3, "windows long past are forgotten"


@pytest.mark.parametrize(("limit", "window"), [(0, 60), (1, 0), (-1, 1)])
def test_a_throttle_needs_a_positive_limit_and_window(limit: int, window: float) -> None:
    with pytest.raises(ValueError):
        Throttle(limit=limit, window=window)
