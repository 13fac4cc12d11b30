"""Scale: claim-query time, start-up time and memory with 100,000 patients and 1,000,000 answers.

Populates a fresh database (migrations and the clinic row through `bot.app.prepare`, then
Core executemany INSERTs): one clinic; N active patients with chat ids, one infusion each;
per patient two completed check-ins in the past carrying the answers, one scheduled in the
future, and for 1 % of patients one scheduled check-in due within the last 10 minutes; for
0.5 % an open check-in whose reminder is due and for 0.5 % one whose answer window has closed.

Then it measures:

  (a) `claim_due`, `claim_reminders` and `claim_closing` (limit 200, as the dispatcher calls
      them) in a transaction that is rolled back, so every run sees the same rows: p50/p99
      over --runs runs after 5 warm-ups; also the whole claim transaction of
      `Sender.send_due` (the claim plus one patient lookup per row). The statements a
      claim runs are captured and shown with EXPLAIN QUERY PLAN (SQLite) or
      EXPLAIN (ANALYZE, BUFFERS) (PostgreSQL).
  (b) start-up: `aftercare run` as a subprocess against the populated database and a sandbox
      Bot API served by this process; from spawn to the sandbox's first `deleteWebhook`
      (PTB starting to poll, i.e. serving). Then SIGTERM; the exit code is recorded.
  (c) memory of that process after --serve seconds of serving: VmRSS and the peak VmHWM.

    .venv/bin/python -m bench.scale [--patients 100000] [--answers 1000000] [--database-url URL]

Exit status 0 when the run completed (targets met or not), 2 when the run itself broke.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bench import DATA_KEY
from bench.dataset import (
    CHUNK,
    CLINIC_TOML,
    ITEMS,
    Step,
    analyze,
    chat_id,
    checkin_row,
    fix_sequences,
    infusion_row,
    insert_chunked,
    patient_row,
    utcnow,
)
from bench.page_latency import BenchError, database_url, percentile
from bot.app import prepare
from bot.clinic_config import parse_clinics
from bot.dispatch.sending import claim_batch
from bot.settings import Settings
from sandbox import BotApiSandbox
from storage.checkins import claim_closing, claim_due, claim_reminders
from storage.crypto.keyring import open_database
from storage.engine import Database
from storage.infusions import infusions_by_ids
from storage.models import Answer, Checkin, Infusion, Patient
from storage.patients import patients_by_ids
from storage.states import CheckinStatus

TARGET_CLAIM_MS = 10.0
TARGET_START_S = 3.0
TARGET_RSS_MB = 200.0
# Rows per claim: what a production instance claims (the limiter at its default 30 a second
# lets out about 30 per batch; bot.dispatch.sending.claim_batch), and the batch without
# a limiter.
LIMIT = claim_batch(Settings.model_fields["send_rate_per_second"].default)
UNLIMITED = claim_batch(0)
TOKEN = "1:x"

Claim = Callable[..., Awaitable[list[Checkin]]]


def say(line: str = "") -> None:
    print(line, flush=True)


# ----------------------------------------------------------------------------- populate


def checkins(n: int, now: datetime) -> Iterator[dict[str, Any]]:
    """Ids 1..2n are the completed ones (patient p: 2p-1, 2p); the rest follow."""
    for pid in range(1, n + 1):
        for k in (0, 1):
            due = now - timedelta(days=2 + k, seconds=pid % 3600)
            yield checkin_row(
                2 * pid - 1 + k,
                pid,
                due,
                now,
                status="completed",
                sent_at=due,
                message_id=1000 + k,
                reminder_due_at=due + timedelta(hours=1),
                closes_at=due + timedelta(hours=4),
                closed_at=due + timedelta(minutes=10),
                attempts=1,
            )
    cid = 2 * n
    for pid in range(1, n + 1):
        cid += 1
        future = now + timedelta(hours=1, seconds=(pid * 37) % (7 * 86400))
        yield checkin_row(cid, pid, future, now)
        if pid % 100 == 0:  # 1 %: due within the last 10 minutes
            cid += 1
            yield checkin_row(cid, pid, now - timedelta(seconds=pid % 600), now)
        if pid % 200 == 50:  # 0.5 %: open, its reminder due
            cid += 1
            sent = now - timedelta(minutes=90, seconds=pid % 300)
            yield checkin_row(
                cid,
                pid,
                sent,
                now,
                status="sent",
                sent_at=sent,
                message_id=2000,
                current_item="mood",
                reminder_due_at=sent + timedelta(hours=1),
                closes_at=sent + timedelta(hours=4),
                attempts=1,
            )
        if pid % 200 == 150:  # 0.5 %: open, its answer window closed
            cid += 1
            sent = now - timedelta(hours=4, minutes=5, seconds=pid % 300)
            yield checkin_row(
                cid,
                pid,
                sent,
                now,
                status="sent",
                sent_at=sent,
                message_id=2000,
                current_item="mood",
                reminder_due_at=sent + timedelta(hours=1),
                reminded_at=sent + timedelta(hours=1),
                closes_at=sent + timedelta(hours=4),
                attempts=1,
            )


def answers(n: int, total: int, now: datetime) -> Iterator[dict[str, Any]]:
    """`total` answers spread over the 2n completed check-ins, at most len(ITEMS) each."""
    completed = 2 * n
    base, extra = divmod(total, completed)
    aid = 0
    for cid in range(1, completed + 1):
        pid = (cid + 1) // 2
        answered = now - timedelta(days=2 + (cid + 1) % 2, seconds=pid % 3600)
        for i in range(base + (1 if cid <= extra else 0)):
            aid += 1
            yield {
                "id": aid,
                "patient_id": pid,
                "checkin_id": cid,
                "item_id": ITEMS[i],
                "value": str((aid * 7) % 11),
                "instrument_id": "aftercare.checkin",
                "instrument_version": "1",
                "answered_at": answered + timedelta(seconds=10 * i),
                "update_id": None,
            }


async def populate(url: str, config: Path, n: int, total_answers: int) -> tuple[datetime, float]:
    if total_answers > 2 * n * len(ITEMS):
        raise BenchError(f"--answers at most {2 * n * len(ITEMS)} for {n} patients")
    started = time.monotonic()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        telegram_token=TOKEN,
        database_url=url,
        config=config,  # type: ignore[arg-type]
    )
    toml = await asyncio.to_thread(config.read_text)
    ctx = await prepare(settings, clinics=parse_clinics(toml, source=str(config)))
    engine = ctx.db.engine
    now = utcnow()
    step = Step(say)
    try:
        step.done("migrations + clinic", 1)
        rows = (patient_row(p, now) for p in range(1, n + 1))
        count = await insert_chunked(engine, Patient, rows)
        step.done("patients", count)
        ended = now - timedelta(days=3)
        count = await insert_chunked(
            engine, Infusion, (infusion_row(p, ended, now) for p in range(1, n + 1))
        )
        step.done("infusions", count)
        count = await insert_chunked(engine, Checkin, checkins(n, now))
        step.done("check-ins", count)
        count = await insert_chunked(engine, Answer, answers(n, total_answers, now), CHUNK * 2)
        step.done("answers", count)
        await fix_sequences(engine)
        await analyze(engine)
        step.done("sequences / ANALYZE", 0)
    finally:
        await ctx.db.dispose()
    return now, time.monotonic() - started


# ----------------------------------------------------------------------------- (a) claims


async def claim_once(
    db: Database, claim: Claim, now: datetime, *, limit: int = LIMIT, lookups: bool = False
) -> tuple[float, float, int]:
    """(claim ms, whole transaction ms, rows) for one claim that is then rolled back."""
    async with AsyncSession(db.engine, expire_on_commit=False) as session:
        t0 = time.perf_counter()
        rows = await claim(
            session, now=now, owner="bench", lease_until=now + timedelta(seconds=60), limit=limit
        )
        t1 = time.perf_counter()
        if lookups:  # as Sender.send_due: the batch's patients and infusions
            await patients_by_ids(session, ids=[row.patient_id for row in rows])
            await infusions_by_ids(
                session, ids=[row.infusion_id for row in rows if row.infusion_id is not None]
            )
        await session.rollback()
        t2 = time.perf_counter()
    return (t1 - t0) * 1000, (t2 - t0) * 1000, len(rows)


async def captured_statements(db: Database, claim: Claim, now: datetime) -> list[tuple[str, Any]]:
    """The SELECT/UPDATE statements (and driver parameters) one claim sends."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE")):
            seen.append((statement, params))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        await claim_once(db, claim, now)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    return seen


def _short(statement: str) -> str:
    flat = " ".join(statement.split())
    return flat if len(flat) <= 150 else flat[:147] + "..."


async def explain(db: Database, claim: Claim, now: datetime) -> None:
    statements = await captured_statements(db, claim, now)
    postgres = db.dialect == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
    async with db.engine.connect() as conn:
        for statement, params in statements:
            say(f"    {_short(statement)}")
            result = await conn.exec_driver_sql(prefix + statement, params)
            for row in result.all():
                line = str(row[0] if postgres else row[3])
                say(f"      {line if len(line) <= 160 else line[:157] + '...'}")
        await conn.rollback()


async def measure_claims(url: str, now: datetime, runs: int) -> dict[str, dict[str, float]]:
    db = open_database(url)
    figures: dict[str, dict[str, float]] = {}
    try:
        cases: list[tuple[str, Claim, int, bool]] = [
            ("claim_due", claim_due, LIMIT, False),
            ("claim_due, no limiter", claim_due, UNLIMITED, False),
            ("claim_reminders", claim_reminders, LIMIT, False),
            ("claim_closing", claim_closing, LIMIT, False),
            ("claim_due + batch lookups", claim_due, LIMIT, True),
        ]
        for name, claim, limit, lookups in cases:
            for _ in range(5):
                await claim_once(db, claim, now, limit=limit, lookups=lookups)
            claim_ms, total_ms, counts = [], [], set()
            for _ in range(runs):
                c, t, k = await claim_once(db, claim, now, limit=limit, lookups=lookups)
                claim_ms.append(c)
                total_ms.append(t)
                counts.add(k)
            claim_ms.sort()
            total_ms.sort()
            figures[name] = {
                "rows": max(counts),
                "claim_p50": percentile(claim_ms, 50),
                "claim_p99": percentile(claim_ms, 99),
                "tx_p50": percentile(total_ms, 50),
                "tx_p99": percentile(total_ms, 99),
                "tx_max": total_ms[-1],
            }
            f = figures[name]
            say(
                f"  {name:<28} rows={f['rows']:.0f}  claim p50={f['claim_p50']:.2f}ms "
                f"p99={f['claim_p99']:.2f}ms  transaction (claim..rollback) "
                f"p50={f['tx_p50']:.2f}ms p99={f['tx_p99']:.2f}ms max={f['tx_max']:.2f}ms"
            )
        statement, params = (await captured_statements(db, claim_due, now))[0]
        lease_free = or_(col(Checkin.lease_until).is_(None), col(Checkin.lease_until) < now)
        lookup = (
            select(col(Checkin.id))
            .where(col(Checkin.status) == CheckinStatus.SCHEDULED, col(Checkin.due_at) <= now)
            .where(lease_free)
            .order_by(col(Checkin.due_at))
            .limit(LIMIT)
        )
        for name, run_once, what in (
            (
                "claim_due statement alone",
                lambda conn: conn.exec_driver_sql(statement, params),
                "the UPDATE ... RETURNING at the driver, no ORM objects",
            ),
            (
                "due lookup alone",
                lambda conn: conn.execute(lookup),
                "the SELECT inside the claim that finds the due rows",
            ),
        ):
            query_ms = []
            for i in range(runs + 5):
                async with db.engine.connect() as conn:
                    t0 = time.perf_counter()
                    ids = (await run_once(conn)).all()
                    elapsed = (time.perf_counter() - t0) * 1000
                    await conn.rollback()
                if i >= 5:
                    query_ms.append(elapsed)
            query_ms.sort()
            figures[name] = {
                "rows": len(ids),
                "claim_p50": percentile(query_ms, 50),
                "claim_p99": percentile(query_ms, 99),
                "tx_p50": float("nan"),
                "tx_p99": float("nan"),
                "tx_max": query_ms[-1],
            }
            say(
                f"  {name:<28} rows={len(ids)}  query p50="
                f"{percentile(query_ms, 50):.2f}ms p99={percentile(query_ms, 99):.2f}ms ({what})"
            )
        say()
        say("  query plans (the statements claim_due sends):")
        await explain(db, claim_due, now)
        say("  query plans (claim_reminders):")
        await explain(db, claim_reminders, now)
        say("  query plans (claim_closing):")
        await explain(db, claim_closing, now)
    finally:
        await db.dispose()
    return figures


# ----------------------------------------------------------------------------- (b)+(c) start-up


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM in MB from /proc/<pid>/status."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values


async def start_once(
    sandbox: BotApiSandbox, url: str, config: Path, workdir: Path, serve: float, run: int
) -> dict[str, Any]:
    aftercare = Path(sys.executable).parent / "aftercare"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env |= {
        "AFTERCARE_DATA_KEY": DATA_KEY,
        "AFTERCARE_DATABASE_URL": url,
        "AFTERCARE_TELEGRAM_API_URL": sandbox.url,
        "AFTERCARE_TELEGRAM_TOKEN": TOKEN,
        "AFTERCARE_CONFIG": str(config),
        "AFTERCARE_LOG_LEVEL": "WARNING",
        "AFTERCARE_INSTANCE_ID": f"bench-start-{run}",
    }
    log_path = workdir / f"run-{run}.log"
    seen = len(sandbox.calls)
    with log_path.open("wb") as log_file:
        spawned = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            str(aftercare), "run", env=env, cwd=workdir, stdout=log_file, stderr=log_file
        )
        first: dict[str, float] = {}
        deadline = spawned + 60
        while "deleteWebhook" not in first:
            if proc.returncode is not None or time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
                raise BenchError(
                    f"aftercare run did not start (exit {proc.returncode}); "
                    f"log: {log_path.read_text()[-2000:]}"
                )
            calls = sandbox.calls
            for call in calls[seen:]:
                first.setdefault(call.method, call.at - spawned)
            seen = len(calls)
            await asyncio.sleep(0.002)
        sends_before = len(sandbox.calls_to("sendMessage"))
        await asyncio.sleep(serve)
        memory = proc_status(proc.pid)
        sends = len(sandbox.calls_to("sendMessage")) - sends_before
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(proc.wait(), timeout=30)
        except TimeoutError:
            proc.kill()
            code = await proc.wait()
        stopped = time.monotonic() - stopping
    errors = [
        line
        for line in log_path.read_text().splitlines()
        if (" ERROR " in line or "Traceback" in line)
        # the seeded open check-ins point at message ids the sandbox never saw
        and "Message to edit not found" not in line
    ]
    return {
        "getMe_s": first.get("getMe", float("nan")),
        "serving_s": first["deleteWebhook"],
        "rss_mb": memory.get("VmRSS", float("nan")),
        "hwm_mb": memory.get("VmHWM", float("nan")),
        "sends": sends,
        "exit": code,
        "stop_s": stopped,
        "errors": errors[:5],
    }


async def measure_startup(
    url: str, config: Path, workdir: Path, patients: int, serve: float, runs: int
) -> list[dict[str, Any]]:
    results = []
    async with BotApiSandbox() as sandbox:
        for pid in range(1, patients + 1):  # every patient's chat exists, so the sends succeed
            sandbox.add_user(chat_id(pid), f"P{pid}")
        for run in range(1, runs + 1):
            r = await start_once(sandbox, url, config, workdir, serve, run)
            results.append(r)
            say(
                f"  run {run}: getMe at {r['getMe_s']:.2f}s, serving (deleteWebhook) at "
                f"{r['serving_s']:.2f}s; after {serve:.0f}s serving VmRSS={r['rss_mb']:.1f}MB "
                f"VmHWM={r['hwm_mb']:.1f}MB; {r['sends']} sendMessage meanwhile; SIGTERM -> "
                f"exit {r['exit']} in {r['stop_s']:.2f}s"
            )
            for line in r["errors"]:
                say(f"    log: {line[:200]}")
    return results


# ----------------------------------------------------------------------------- main


async def server_version(url: str) -> str:
    db = open_database(url)
    try:
        async with db.engine.connect() as conn:
            sql = "select sqlite_version()" if db.dialect == "sqlite" else "show server_version"
            return f"{db.dialect} {(await conn.exec_driver_sql(sql)).scalar()}"
    finally:
        await db.dispose()


async def database_size(url: str) -> str:
    db = open_database(url)
    try:
        async with db.engine.connect() as conn:
            if db.dialect == "sqlite":
                pages = (await conn.exec_driver_sql("PRAGMA page_count")).scalar() or 0
                size = (await conn.exec_driver_sql("PRAGMA page_size")).scalar() or 0
                return f"{pages * size / 2**20:.0f} MB"
            value = (
                await conn.execute(text("SELECT pg_database_size(current_database())"))
            ).scalar()
            return f"{(value or 0) / 2**20:.0f} MB"
    finally:
        await db.dispose()


def met(ok: bool) -> str:
    return "target met" if ok else "target NOT met"


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="aftercare-scale-") as tmp:
        workdir = Path(tmp)
        config = workdir / "clinic.toml"
        config.write_text(CLINIC_TOML)
        async with database_url(args.database_url) as url:
            backend = await server_version(url)
            say(f"backend: {backend}; python {platform.python_version()}, {os.cpu_count()} cpu")
            say(f"populating {args.patients:,} patients, {args.answers:,} answers ...")
            now, populate_s = await populate(url, config, args.patients, args.answers)
            size = await database_size(url)
            say(f"populated in {populate_s:.1f}s; database size {size}")
            say()
            say(
                f"(a) claims, limit {LIMIT} (with the limiter) or {UNLIMITED} (without), "
                f"rolled back, {args.runs} runs after 5 warm-ups:"
            )
            claims = await measure_claims(url, now, args.runs)
            say()
            say(f"(b)/(c) aftercare run, {args.startup_runs} start(s):")
            starts = await measure_startup(
                url, config, workdir, args.patients, args.serve, args.startup_runs
            )

    due = claims["claim_due"]
    serving = statistics.median(r["serving_s"] for r in starts)
    first = starts[0]
    rss = max(r["rss_mb"] for r in starts)
    hwm = max(r["hwm_mb"] for r in starts)
    say()
    say(f"summary — {backend}, {args.patients:,} patients, {args.answers:,} answers, {size}")
    say("| figure | value | target |")
    say("|---|---|---|")
    for name, f in claims.items():
        tx = "" if f["tx_p99"] != f["tx_p99"] else f" (transaction p99 {f['tx_p99']:.2f} ms)"
        say(
            f"| {name} ({f['rows']:.0f} rows) | p50 {f['claim_p50']:.2f} ms, "
            f"p99 {f['claim_p99']:.2f} ms{tx} | "
            f"{'< 10 ms' if name == 'claim_due' else '—'} |"
        )
    each = ", ".join(f"{r['serving_s']:.2f}" for r in starts)
    say(
        f"| start-up to serving | {each} s "
        f"(median {serving:.2f} s; getMe at {first['getMe_s']:.2f} s) | < 3 s |"
    )
    say(
        f"| resident memory after {args.serve:.0f} s serving | VmRSS {rss:.1f} MB, "
        f"peak VmHWM {hwm:.1f} MB | < 200 MB |"
    )
    say(f"| exit code after SIGTERM | {', '.join(str(r['exit']) for r in starts)} | 0 |")
    say()
    say(
        f"due-claim (claim_due call, {LIMIT} rows) p99 {due['claim_p99']:.2f} ms "
        f"< {TARGET_CLAIM_MS:.0f} ms: "
        f"{met(due['claim_p99'] < TARGET_CLAIM_MS)}"
    )
    unlimited = claims["claim_due, no limiter"]
    say(
        f"due-claim without a limiter ({UNLIMITED} rows) p50 {unlimited['claim_p50']:.2f} ms, "
        f"p99 {unlimited['claim_p99']:.2f} ms (for comparison)"
    )
    say(f"start-up {serving:.2f} s < {TARGET_START_S:.0f} s: {met(serving < TARGET_START_S)}")
    say(
        f"resident memory {rss:.1f} MB (peak {hwm:.1f} MB) < {TARGET_RSS_MB:.0f} MB: "
        f"{met(max(rss, hwm) < TARGET_RSS_MB)}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: a temporary SQLite file; a postgresql+asyncpg:// URL gets a "
        "throwaway database created on that server and dropped afterwards",
    )
    parser.add_argument("--runs", type=int, default=50, help="claim runs measured (default 50)")
    parser.add_argument(
        "--serve", type=float, default=5.0, help="seconds of serving before reading memory"
    )
    parser.add_argument("--startup-runs", type=int, default=3, help="aftercare run starts")
    args = parser.parse_args(argv)
    if args.patients < 200 or args.runs < 1 or args.startup_runs < 1:
        parser.error("--patients >= 200, --runs >= 1, --startup-runs >= 1")
    try:
        return asyncio.run(run(args))
    except (BenchError, OSError, asyncpg.PostgresError) as exc:
        print(f"scale: run broke: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
