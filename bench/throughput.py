"""Send throughput: how fast the dispatcher turns due check-ins into sent ones.

N active patients, each with an infusion and one scheduled check-in due a minute ago, are
inserted in bulk (after migrations and the clinic sync of `bot.app.prepare`). Then the real
application serves in-process against the sandbox Bot API (as tests/auxil/harness.py runs
it: PTB long polling, dispatcher tick 0.2 s, no rate limiter installed), and the clock runs
from just before `serve()` starts until the database holds all N check-ins as 'sent'. While
it runs only the sandbox's call log is watched (a reader on SQLite would contend for the
write lock); once N sendMessage calls have arrived the database is polled every 20 ms.

    .venv/bin/python -m bench.throughput [--checkins 2000] [--database-url URL]

Also reported: sendMessage calls per chat above one (duplicates; must be 0), and the time
from the first to the last sendMessage. Exit status 0 when all were sent once, 1 when some
were not sent or were sent twice, 2 when the run itself broke.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import func, select
from sqlmodel import col

from bench.dataset import (
    CLINIC_TOML,
    analyze,
    chat_id,
    checkin_row,
    fix_sequences,
    infusion_row,
    insert_chunked,
    patient_row,
    utcnow,
)
from bench.page_latency import BenchError, database_url
from bot.app import prepare, serve
from bot.clinic_config import parse_clinics
from bot.sandbox import BotApiSandbox
from bot.settings import Settings
from storage.engine import Database
from storage.models import Checkin, CheckinStatus, Infusion, Patient

TOKEN = "123456:BENCH-TOKEN-abcdefghijklmnopqrstuvwxyz"
TARGET_PER_SECOND = 500.0


def say(line: str = "") -> None:
    print(line, flush=True)


async def populate(db: Database, n: int) -> None:
    now = utcnow()
    engine = db.engine
    await insert_chunked(engine, Patient, (patient_row(p, now) for p in range(1, n + 1)))
    ended = now - timedelta(hours=4, minutes=1)
    await insert_chunked(engine, Infusion, (infusion_row(p, ended, now) for p in range(1, n + 1)))
    due = now - timedelta(minutes=1)
    await insert_chunked(engine, Checkin, (checkin_row(p, p, due, now) for p in range(1, n + 1)))
    await fix_sequences(engine)
    await analyze(engine)


async def count_sent(db: Database) -> int:
    async with db.engine.connect() as conn:
        query = select(func.count()).where(col(Checkin.status) == CheckinStatus.SENT)
        return int((await conn.execute(query)).scalar() or 0)


async def run(args: argparse.Namespace) -> int:
    n = args.checkins
    async with database_url(args.database_url) as url, BotApiSandbox() as sandbox:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            telegram_token=TOKEN,  # type: ignore[arg-type]
            telegram_api_url=sandbox.url,
            database_url=url,
            dispatch_interval_seconds=args.dispatch_interval,
            config=Path("bench.toml"),
            send_rate_per_second=0,  # the bot's own throughput: Telegram's limit is not measured
        )
        ctx = await prepare(settings, clinics=parse_clinics(CLINIC_TOML, source="bench"))
        db = ctx.db
        async with db.engine.connect() as conn:
            sql = "select sqlite_version()" if db.dialect == "sqlite" else "show server_version"
            backend = f"{db.dialect} {(await conn.exec_driver_sql(sql)).scalar()}"
        say(f"backend: {backend}; python {platform.python_version()}, {os.cpu_count()} cpu")
        populated = time.monotonic()
        await populate(db, n)
        for pid in range(1, n + 1):
            sandbox.add_user(chat_id(pid), f"P{pid}")
        say(f"populated {n:,} due check-ins in {time.monotonic() - populated:.1f}s")

        stop = asyncio.Event()
        load_before = os.getloadavg()
        seen = len(sandbox.calls)
        started = time.monotonic()
        task = asyncio.create_task(serve(ctx, stop))
        sends: list[float] = []
        chats: Counter[int] = Counter()
        deadline = started + args.timeout
        sent_in_db = 0
        try:
            while time.monotonic() < deadline:
                if task.done():
                    task.result()
                    raise BenchError("the bot stopped serving")
                calls = sandbox.calls
                for call in calls[seen:]:
                    if call.method == "sendMessage" and call.status == 200:
                        sends.append(call.at)
                        chats[int(call.params["chat_id"])] += 1
                seen = len(calls)
                if len(chats) >= n:
                    sent_in_db = await count_sent(db)
                    if sent_in_db >= n:
                        break
                    await asyncio.sleep(0.02)
                else:
                    await asyncio.sleep(0.005)
            finished = time.monotonic()
            limiter = ctx.dispatcher.bot.rate_limiter if ctx.dispatcher else None
            pool = db.engine.pool.status()
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=30)
            sent_in_db = await count_sent(db)
            await db.dispose()

    elapsed = finished - started
    duplicates = sum(count - 1 for count in chats.values() if count > 1)
    rate = sent_in_db / elapsed if elapsed > 0 else 0.0
    span = (sends[-1] - sends[0]) if len(sends) > 1 else float("nan")
    say(f"rate limiter:   {type(limiter).__name__ if limiter else 'none installed'}")
    say(f"pool:           {pool}")
    say(f"load average:   {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after (1 min)")
    say(
        f"sent:           {sent_in_db:,}/{n:,} in the database in {elapsed:.2f}s from serve() "
        f"start; first sendMessage at {sends[0] - started:.2f}s, last at "
        f"{sends[-1] - started:.2f}s (first->last {span:.2f}s, "
        f"{(len(sends) - 1) / span if span > 0 else float('nan'):,.0f}/s)"
        if sends
        else f"sent:           {sent_in_db:,}/{n:,}; no sendMessage at all"
    )
    say(f"duplicates:     {duplicates} (sendMessage calls beyond one per chat)")
    met = "met" if rate >= TARGET_PER_SECOND else "NOT met"
    say(
        f"throughput {backend} n={n} {rate:,.0f} check-ins/s "
        f"target >= {TARGET_PER_SECOND:.0f}/s: {met}; duplicates={duplicates}"
    )
    return 0 if sent_in_db >= n and duplicates == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__)
    parser.add_argument("--checkins", type=int, default=2000, help="due check-ins (default 2000)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: a temporary SQLite file; a postgresql+asyncpg:// URL gets a "
        "throwaway database created on that server and dropped afterwards",
    )
    parser.add_argument(
        "--dispatch-interval", type=float, default=0.2, help="dispatcher tick (default 0.2 s)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after (s)")
    args = parser.parse_args(argv)
    if args.checkins < 1:
        parser.error("--checkins must be >= 1")
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # A tick longer than the interval makes APScheduler skip the next one; that is expected here.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    try:
        return asyncio.run(run(args))
    except (BenchError, OSError, asyncpg.PostgresError) as exc:
        print(f"throughput: run broke: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
