"""The priority rate limiter, through a real ExtBot against the sandbox Bot API."""

from __future__ import annotations

import asyncio
import time

import pytest
from telegram.error import BadRequest, NetworkError
from telegram.ext import ExtBot

from bot.messaging.ratelimit import ROUTINE, PriorityRateLimiter
from sandbox import BotApiSandbox

TOKEN = "1:RATELIMIT"


def _bot(sandbox: BotApiSandbox, limiter: PriorityRateLimiter) -> ExtBot[dict[str, object]]:
    return ExtBot(TOKEN, base_url=f"{sandbox.url}/bot", rate_limiter=limiter)


async def test_sends_keep_the_configured_pace(sandbox: BotApiSandbox) -> None:
    sandbox.add_user(1)
    async with _bot(sandbox, PriorityRateLimiter(per_second=20, burst=3)) as bot:
        started = time.monotonic()
        await asyncio.gather(*(bot.send_message(1, f"m{i}") for i in range(21)))
        elapsed = time.monotonic() - started
    # 21 sends at 20/s, 3 of them saved up while idle: 18 intervals
    assert elapsed >= 0.85, elapsed
    # The pace holds over any window (single gaps vary with HTTP jitter, not with the pace):
    # 11 sends at 20/s need 10 slots, 0.5 s, less the 2 saved up.
    arrivals = sorted(c.at for c in sandbox.calls_to("sendMessage"))
    windows = list(zip(arrivals, arrivals[10:], strict=False))
    assert all(later - earlier >= 0.35 for earlier, later in windows)
    # and once the saved slots are spent, strictly: sends 3..13 span 10 intervals
    assert arrivals[13] - arrivals[3] >= 0.45


async def test_a_quiet_spell_saves_up_a_burst_and_no_more(sandbox: BotApiSandbox) -> None:
    """A tap's callback answer, crisis card and page leave together, not a slot apart; the
    fourth request waits its slot."""
    sandbox.add_user(1)
    async with _bot(sandbox, PriorityRateLimiter(per_second=2, burst=3)) as bot:
        await bot.get_me()
        started = time.monotonic()
        await asyncio.gather(*(bot.send_message(1, f"m{i}") for i in range(3)))
        three = time.monotonic() - started
        await bot.send_message(1, "fourth")
        four = time.monotonic() - started
    assert three < 0.3, three  # one slot at 2/s is 0.5 s
    assert four >= 0.45, four


async def test_a_burst_of_one_is_a_strict_pace(sandbox: BotApiSandbox) -> None:
    sandbox.add_user(1)
    async with _bot(sandbox, PriorityRateLimiter(per_second=10, burst=1)) as bot:
        started = time.monotonic()
        await asyncio.gather(*(bot.send_message(1, f"m{i}") for i in range(3)))
        elapsed = time.monotonic() - started
    assert elapsed >= 0.19, elapsed  # two intervals of 0.1 s
    with pytest.raises(ValueError, match="burst"):
        PriorityRateLimiter(per_second=10, burst=0)


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


async def test_an_edit_is_tried_again_after_a_5xx_but_a_send_is_not(
    sandbox: BotApiSandbox,
) -> None:
    sandbox.add_user(1)
    limiter = PriorityRateLimiter(per_second=0, failure_backoff=(0.01, 0.01))
    async with _bot(sandbox, limiter) as bot:
        sent = await bot.send_message(1, "question")
        sandbox.fail_next("editMessageText", status=502)
        await bot.edit_message_text("answered", chat_id=1, message_id=sent.message_id)
        sandbox.fail_next("sendMessage", status=502)
        with pytest.raises(NetworkError):  # it may have arrived: the caller decides
            await bot.send_message(1, "next")
        sandbox.fail_next("editMessageText", status=500, times=3)
        with pytest.raises(NetworkError):  # two retries, then the failure is the caller's
            await bot.edit_message_text("again", chat_id=1, message_id=sent.message_id)
    edits = [c.status for c in sandbox.calls_to("editMessageText")]
    assert edits == [502, 200, 500, 500, 500]
    assert [c.status for c in sandbox.calls_to("sendMessage")] == [200, 502]


async def test_a_callback_answer_rides_out_a_429(sandbox: BotApiSandbox) -> None:
    sandbox.add_user(1)
    async with _bot(sandbox, PriorityRateLimiter(per_second=0)) as bot:
        message = await bot.send_message(1, "tap me")
        query = sandbox.tap(1, message.message_id, data="x", forge=True)
        sandbox.fail_next("answerCallbackQuery", status=429, retry_after=1)
        started = time.monotonic()
        assert await bot.answer_callback_query(query) is True
        assert time.monotonic() - started >= 0.95
    assert [c.status for c in sandbox.calls_to("answerCallbackQuery")] == [429, 200]


async def test_an_edit_that_changes_nothing_is_not_sent(sandbox: BotApiSandbox) -> None:
    sandbox.add_user(1)
    limiter = PriorityRateLimiter(per_second=0)
    async with _bot(sandbox, limiter) as bot:
        sent = await bot.send_message(1, "question")
        await asyncio.gather(  # two identical edits at once: one goes, one is skipped
            bot.edit_message_text("answered", chat_id=1, message_id=sent.message_id),
            bot.edit_message_text("answered", chat_id=1, message_id=sent.message_id),
        )
        await bot.edit_message_text("answered", chat_id=1, message_id=sent.message_id)
        await bot.edit_message_text("changed", chat_id=1, message_id=sent.message_id)
    texts = [c.params["text"] for c in sandbox.calls_to("editMessageText")]
    assert texts == ["answered", "changed"]
    assert [c.status for c in sandbox.calls_to("editMessageText")] == [200, 200]
    assert limiter.skipped_edits == 2


async def test_a_not_modified_refusal_is_remembered(sandbox: BotApiSandbox) -> None:
    """Another instance set the text (so this one forgot it): the first identical edit is
    refused by Telegram, the next is skipped."""
    sandbox.add_user(1)
    limiter = PriorityRateLimiter(per_second=0)
    async with _bot(sandbox, limiter) as bot:
        sent = await bot.send_message(1, "question")
        await bot.edit_message_text("answered", chat_id=1, message_id=sent.message_id)
        limiter.shown.forget({"chat_id": 1, "message_id": sent.message_id})
        with pytest.raises(BadRequest, match="not modified"):
            await bot.edit_message_text("answered", chat_id=1, message_id=sent.message_id)
        await bot.edit_message_text("answered", chat_id=1, message_id=sent.message_id)
    assert limiter.skipped_edits == 1
