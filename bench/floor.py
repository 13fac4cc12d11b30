"""The floors: what this machine allows without the application, measured in the same run.

Every benchmark figure is shown beside its floor, so a figure reads as a ratio and a slower or
busier machine does not pass for a slower application.

- **Latency floor** (`latency_floor`): a bare aiohttp client doing what one page needs at the
  least: one transaction through SQLAlchemy's async engine (an INSERT and its commit, on the
  benchmark's own kind of database) and one sendMessage to the same sandbox Bot API, in
  sequence. `bench.page_latency` measures it before its escalations.
- **Statement floor** (`statement_floor`): the CPU one statement and one transaction cost at
  the least through SQLAlchemy's async engine (Core text, a one-row SELECT by key) on that
  database; the work of an update is so many statements and transactions (count them with
  bench/trace), and this prices them. `bench.backlog` prints CPU per update beside it.
- **Send ceiling** (`send_ceiling`): a bare aiohttp client sending sendMessage as fast as the
  sandbox answers (`CONCURRENCY` in flight, one connection pool, no database), from a process
  other than the sandbox's, as the bot is. `bench.throughput` measures it beside its run.
- **Stack ceiling** (`stack_ceiling`): the same, but through the stack the brief fixes: PTB's
  `ExtBot` over the bot's own transport, each send a check-in's first question with its
  eleven buttons (`bot.messaging.delivery.send_question`), no database. What a check-in send
  can reach at most; `bench.throughput` prints its run against both ceilings.

    .venv/bin/python -m bench.floor [--database-url URL] [--rounds 200] [--sends 4000]

prints them all (a temporary SQLite file unless a URL is given; a PostgreSQL URL gets a throwaway
database, as the other benchmarks do).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass

import aiohttp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from sandbox import BotApiSandbox

TOKEN = "123456:BENCH-TOKEN-abcdefghijklmnopqrstuvwxyz"
CONCURRENCY = 32  # requests in flight for the ceiling (the sandbox answers one at a time)
FLOOR_CHAT = 9_099_999


@dataclass(frozen=True)
class Floor:
    """Sorted samples in ms."""

    samples: list[float]

    def at(self, p: float) -> float:
        values = self.samples
        return values[min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))]

    def line(self) -> str:
        return (
            f"floor (bare aiohttp client: one transaction + one sendMessage, same sandbox): "
            f"p50={self.at(50):.1f}ms p99={self.at(99):.1f}ms n={len(self.samples)}"
        )


async def latency_floor(api_url: str, chat_id: int, database_url: str, rounds: int) -> Floor:
    """`rounds` times: BEGIN; INSERT; COMMIT through SQLAlchemy's async engine, then one
    sendMessage to `chat_id` (who must exist at the sandbox); each round's ms, sorted."""
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS bench_floor"))
            await conn.execute(text("CREATE TABLE bench_floor (n INTEGER, at FLOAT)"))
        samples: list[float] = []
        async with aiohttp.ClientSession() as http:
            send = f"{api_url}/bot{TOKEN}/sendMessage"
            for n in range(rounds + 10):  # ten warm-up rounds
                started = time.perf_counter()
                async with engine.begin() as conn:
                    await conn.execute(
                        text("INSERT INTO bench_floor VALUES (:n, :at)"), {"n": n, "at": started}
                    )
                async with http.post(send, json={"chat_id": chat_id, "text": f"floor {n}"}) as r:
                    await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"sendMessage answered {r.status}")
                if n >= 10:
                    samples.append((time.perf_counter() - started) * 1000)
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE bench_floor"))
        return Floor(sorted(samples))
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class StatementFloor:
    """CPU (this process, all threads) of the least a statement and a transaction cost
    through SQLAlchemy's async engine, ms."""

    statement_ms: float
    transaction_ms: float

    def of(self, statements: float, transactions: float) -> float:
        """The floor of work made of so many statements and transactions."""
        return statements * self.statement_ms + transactions * self.transaction_ms

    def line(self) -> str:
        return (
            f"statement floor (SQLAlchemy async engine, Core, one-row SELECT by key): "
            f"{self.statement_ms:.3f}ms CPU a statement, {self.transaction_ms:.3f}ms a "
            "transaction (BEGIN + COMMIT)"
        )


async def statement_floor(database_url: str, rounds: int = 2000) -> StatementFloor:
    """CPU of `rounds` one-row SELECTs in one transaction, and of `rounds` transactions of
    one such SELECT each; the difference is what BEGIN and COMMIT add."""
    engine = create_async_engine(database_url)
    one = text("SELECT n, at FROM bench_floor WHERE n = :n")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS bench_floor"))
            await conn.execute(text("CREATE TABLE bench_floor (n INTEGER PRIMARY KEY, at FLOAT)"))
            await conn.execute(
                text("INSERT INTO bench_floor VALUES (:n, :at)"),
                [{"n": n, "at": 0.0} for n in range(100)],
            )
        async with engine.begin() as conn:  # warm: pool, statement cache
            for n in range(100):
                await conn.execute(one, {"n": n % 100})
        started = time.process_time()
        async with engine.begin() as conn:
            for n in range(rounds):
                await conn.execute(one, {"n": n % 100})
        statement = (time.process_time() - started) / rounds
        started = time.process_time()
        for n in range(rounds):
            async with engine.begin() as conn:
                await conn.execute(one, {"n": n % 100})
        transaction = (time.process_time() - started) / rounds - statement
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE bench_floor"))
        return StatementFloor(statement * 1000, max(0.0, transaction) * 1000)
    finally:
        await engine.dispose()


async def send_ceiling(api_url: str, chats: list[int], sends: int) -> float:
    """sendMessage/s a bare client gets from the sandbox at `api_url`, `CONCURRENCY` in flight,
    round-robin over `chats` (who must exist there)."""
    url = f"{api_url}/bot{TOKEN}/sendMessage"
    next_send = 0

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal next_send
        while next_send < sends:
            n, next_send = next_send, next_send + 1
            async with http.post(url, json={"chat_id": chats[n % len(chats)], "text": "x"}) as r:
                await r.read()

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.post(url, json={"chat_id": chats[0], "text": "warm"}) as r:
            await r.read()
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(CONCURRENCY)))
        return sends / (time.perf_counter() - started)


async def stack_ceiling(api_url: str, chats: list[int], sends: int) -> float:
    """sendMessage/s through the bot's own send path without the application: PTB's
    `ExtBot` over the bot's transport (`AiohttpRequest`), each a check-in's first question with
    its eleven buttons (`send_question`), `CONCURRENCY` in flight, no database, no limiter.
    PTB and its request path are the fixed stack; this is the most a check-in send can get."""
    from telegram.ext import ExtBot

    from bot.domain import checkin_flow
    from bot.messaging.delivery import send_question
    from bot.messaging.transport import AiohttpRequest

    bot = ExtBot(TOKEN, base_url=f"{api_url}/bot", request=AiohttpRequest())
    await bot.initialize()
    next_send = 0

    async def worker() -> None:
        nonlocal next_send
        while next_send < sends:
            n, next_send = next_send, next_send + 1
            await send_question(
                bot,
                chats[n % len(chats)],
                "How is your mood?",
                checkin_id=n + 1,
                item_id=checkin_flow.MOOD,
            )

    try:
        await send_question(bot, chats[0], "warm", checkin_id=1, item_id=checkin_flow.MOOD)
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(f"  stack ceiling: {cpu / sends * 1000:.3f} ms of CPU a send, {cpu / wall:.0%} busy")
        return sends / wall
    finally:
        await bot.shutdown()


def ratio(figure: float, floor: float) -> str:
    return f"{figure / floor:.1f}×" if floor > 0 else "n/a"


async def run(args: argparse.Namespace) -> int:
    from bench.page_latency import database_url  # the throwaway-database helper
    from bench.throughput import SandboxProcess

    async with database_url(args.database_url) as url, BotApiSandbox() as sandbox:
        sandbox.add_user(FLOOR_CHAT)
        floor = await latency_floor(sandbox.url, FLOOR_CHAT, url, args.rounds)
        statements = await statement_floor(url)
    print(floor.line())
    print(f"  mean={statistics.fmean(floor.samples):.1f}ms max={floor.samples[-1]:.1f}ms")
    print(statements.line())
    async with SandboxProcess(users=100) as other:
        from bench.dataset import FIRST_CHAT

        per_second = await send_ceiling(
            other.url, [FIRST_CHAT + 1 + i for i in range(100)], args.sends
        )
        chats = [FIRST_CHAT + 1 + i for i in range(100)]
        through_ptb = await stack_ceiling(other.url, chats, args.sends)
    print(f"send ceiling (bare aiohttp client → sandbox process): {per_second:.0f} sendMessage/s")
    print(f"stack ceiling (PTB's ExtBot, the bot's transport, a question): {through_ptb:.0f}/s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--rounds", type=int, default=200, help="latency rounds (200)")
    parser.add_argument("--sends", type=int, default=4000, help="sends for the ceiling (4000)")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
