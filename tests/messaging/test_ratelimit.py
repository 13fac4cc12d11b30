"""The priority rate limiter, through a real ExtBot against the sandbox Bot API."""

from __future__ import annotations

import asyncio
import time

from telegram.ext import ExtBot

from bot.messaging.ratelimit import ROUTINE, PriorityRateLimiter
from sandbox import BotApiSandbox

TOKEN = "1:RATELIMIT"


def _bot(sandbox: BotApiSandbox, limiter: PriorityRateLimiter) -> ExtBot[dict[str, object]]:
    return ExtBot(TOKEN, base_url=f"{sandbox.url}/bot", rate_limiter=limiter)


async def test_sends_keep_the_configured_pace(sandbox: BotApiSandbox) -> None:
    sandbox.add_user(1)
    async with _bot(sandbox, PriorityRateLimiter(per_second=20)) as bot:
        started = time.monotonic()
        await asyncio.gather(*(bot.send_message(1, f"m{i}") for i in range(21)))
        elapsed = time.monotonic() - started
    assert elapsed >= 0.95, elapsed  # 21 sends at 20/s: 20 intervals
    # The pace holds over any window (single gaps vary with HTTP jitter, not with the pace):
    # 11 sends at 20/s need 10 slots, 0.5 s.
    arrivals = sorted(c.at for c in sandbox.calls_to("sendMessage"))
    windows = zip(arrivals, arrivals[10:], strict=False)
    assert all(later - earlier >= 0.45 for earlier, later in windows)


async def test_a_safety_message_overtakes_a_routine_burst(sandbox: BotApiSandbox) -> None:
    for user in range(1, 61):
        sandbox.add_user(user)
    async with _bot(sandbox, PriorityRateLimiter(per_second=30, chat_interval=0)) as bot:
        routine = [
            asyncio.create_task(bot.send_message(u, "routine", rate_limit_args=ROUTINE))
            for u in range(1, 61)
        ]
        await asyncio.sleep(0.2)  # the burst is under way and queued
        asked = time.monotonic()
        await bot.send_message(1, "PAGE")
        answered = time.monotonic()
        await asyncio.gather(*routine)
    texts = [c.params["text"] for c in sandbox.calls_to("sendMessage")]
    assert answered - asked < 0.2, "the page waited behind the routine queue"
    assert texts.index("PAGE") < 20 and texts[-1] == "routine"


async def test_a_429_pauses_everyone_then_resends(sandbox: BotApiSandbox) -> None:
    sandbox.add_user(1)
    sandbox.add_user(2)
    sandbox.fail_next("sendMessage", status=429, retry_after=1)
    async with _bot(sandbox, PriorityRateLimiter(per_second=30)) as bot:
        started = time.monotonic()
        first = asyncio.create_task(bot.send_message(1, "first"))
        await asyncio.sleep(0.1)
        second = asyncio.create_task(bot.send_message(2, "second"))
        await asyncio.gather(first, second)
        elapsed = time.monotonic() - started
    assert elapsed >= 0.95
    ok = [c for c in sandbox.calls_to("sendMessage") if c.status == 200]
    assert sorted(c.params["text"] for c in ok) == ["first", "second"]
    assert sandbox.calls_to("sendMessage")[0].status == 429
    assert all(c.at - started >= 0.95 for c in ok), "nobody may send during the pause"


async def test_routine_sends_to_one_chat_are_spaced(sandbox: BotApiSandbox) -> None:
    sandbox.add_user(1)
    async with _bot(sandbox, PriorityRateLimiter(per_second=30, chat_interval=0.3)) as bot:
        await asyncio.gather(
            *(bot.send_message(1, f"r{i}", rate_limit_args=ROUTINE) for i in range(3))
        )
        arrivals = [c.at for c in sandbox.calls_to("sendMessage")]
        assert arrivals[2] - arrivals[0] >= 0.55
        started = time.monotonic()
        await bot.get_me()  # not a send: never waits for a slot
        assert time.monotonic() - started < 0.2
