"""Console pages: server time and round trip of the case queue, the patient list and a
timeline, over realistic data (1,000 patients by default, `--patients N` for more; 100
unresolved cases; one patient with 300 check-ins; see bench/README.md).

The whole bot runs in-process (`prepare` + `serve` against the sandbox Bot API, polling, the
dispatcher ticking), its HTTP server on a local port, as tests/auxil/console.py runs it; the
data is bulk-inserted after `prepare`, a session opened with `issue_link` + `redeem_link`, and
an httpx client with its cookie asks for each page, one request at a time. Server time: from
the call of the `/console` mount's ASGI app (wrapped by patching `bot.app.console_mount`) to the
return of its last body `send`, with the process CPU time and SQL statements in that span.

    .venv/bin/python -m bench.console [--patients 1000] [--requests 200] [--warmup 20]
        [--database-url URL]

A measurement: exit status 0 whether or not the target (p99 < 50 ms) is met; 2 if the run broke.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import os
import platform
import random
import re
import sys
import time
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import bot.app
from bench import dataset as ds
from bench.page_latency import BenchError, database_url, percentile
from bot.clinic_config import parse_clinics
from bot.console.web import SESSION_COOKIE
from bot.domain import instruments
from bot.services.console_access import issue_link, redeem_link
from sandbox import BotApiSandbox
from storage.crypto.keyring import open_database
from storage.crypto.sealed import Owned, owned
from storage.engine import Database
from storage.models import Answer, Case, Checkin, Clinician, Infusion, Page, Patient
from tests.auxil.harness import free_port, make_settings

TARGET_P99_MS = 50.0
PATIENTS, OPEN_CASES, HEAVY_CHECKINS, CHECKINS_EACH = 1000, 100, 300, 10  # PATIENTS: default
HEAVY = 1  # P-0000001, the patient with 300 check-ins
CLINICIANS = ("Dr Ada", "Dr Grace", "Dr Alan", "Dr Edsger", "Dr Barbara", "Dr Donald")
FIRST_CLINICIAN_CHAT = 7300
ZONES = ("UTC", "Europe/Berlin", "America/New_York")
FINDINGS = (
    ("high", "C-SSRS item 4 yes: some intention of acting"),
    ("moderate", "C-SSRS item 3 yes: thought of a method"),
    ("low", "C-SSRS item 2 yes: thoughts of killing yourself"),
    ("low", "mood 2/10 at or below floor 3"),
    ("high", "post-infusion red flag present (emergency advice shown)"),
)
ANSWER_KEYS = "patient_id checkin_id item_id value instrument_id instrument_version answered_at"
ANSWER_KEYS += " update_id"
CASE_KEYS = "id clinic_id patient_id checkin_id level trigger reason quote status opened_at"
CASE_KEYS += " ladder_started_at step next_step_at acknowledged_at acknowledged_by resolved_at"
CASE_KEYS += " resolved_by resolution_note lease_owner lease_until"
PAGE_KEYS = "id escalation_id clinician_id step status message_id error sent_at"


class Timing:
    """Wraps the console's ASGI app: per request its status, server time, process CPU time and
    the SQL statements run meanwhile (a background tick's too, when one falls in the span)."""

    def __init__(self, engines: tuple[AsyncEngine, ...]) -> None:
        self.app: ASGIApp | None = None
        self.hits: list[tuple[int, float, float, int]] = []
        self.statements = 0
        for engine in engines:  # the writers' and (SQLite) the readers'
            event.listen(engine.sync_engine, "before_cursor_execute", self._count)

    def _count(self, *_: Any) -> None:
        self.statements += 1

    def mount(self, ctx: Any, bot_: Any) -> Mount:
        mounted = ORIGINAL_MOUNT(ctx, bot_)
        self.app = mounted.app
        return Mount(mounted.path, app=self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None
        wall, cpu, sql, status = time.perf_counter(), time.process_time(), self.statements, 0

        async def sending(message: Message) -> None:
            nonlocal status
            status = message["status"] if message["type"] == "http.response.start" else status
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                ms, cpu_ms = time.perf_counter() - wall, time.process_time() - cpu
                self.hits.append((status, ms * 1000, cpu_ms * 1000, self.statements - sql))

        await self.app(scope, receive, sending)


ORIGINAL_MOUNT = bot.app.console_mount


# ----------------------------------------------------------------------------- data


def answered(rng: random.Random, pid: int, cid: int, sent: datetime, day1: bool) -> list[Any]:
    """One answered check-in's rows: mood, the C-SSRS screener (items 3–5 after a Yes), red
    flags on day one, sometimes a note."""
    positive = rng.random() < 0.08
    items = [("mood", str(rng.choice((2, 3, 4, 5, 5, 6, 6, 7, 7, 8, 9))))]
    items += [("s1", "yes" if positive else "no"), ("s2", "yes" if positive else "no")]
    items += [("s3", "yes"), ("s4", rng.choice(("yes", "no"))), ("s5", "no")] if positive else []
    items += [("s6", "no")] + ([("rf", "no")] if day1 else [])
    note = Owned("Tired today, slept badly, otherwise fine.", pid)  # free text: sealed
    items += [("note", note)] if rng.random() < 0.2 else []
    rows = []
    for k, (item, value) in enumerate(items):
        spec, at = instruments.item(item), sent + timedelta(seconds=20 * (k + 1))
        values = (pid, cid, item, value, spec.instrument_id, spec.instrument_version, at, None)
        rows.append(dict(zip(ANSWER_KEYS.split(), values, strict=True)))
    return rows


async def populate(engine: AsyncEngine, now: datetime, patients_n: int) -> dict[str, int]:
    rng, day = random.Random(7), timedelta(days=1)
    everyone = range(1, patients_n + 1)
    patients = [ds.patient_row(p, now) | {"timezone": ZONES[p % 3]} for p in everyone]
    infusions = [ds.infusion_row(p, now - 15 * day, now) for p in everyone]
    heavy_ends = [now - (145 - 30 * k) * day for k in range(5)]  # the last 25 days ago
    infusions[HEAVY - 1]["ended_at"] = heavy_ends[0]
    infusions += [
        ds.infusion_row(patients_n + k, end, now) | {"patient_id": HEAVY}
        for k, end in enumerate(heavy_ends[1:], 1)
    ]
    heavy_ids = [HEAVY] + [patients_n + k for k in range(1, 5)]
    checkins: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    last: dict[int, int] = {}
    for pid in everyone:
        heavy = pid == HEAVY
        first, every = (heavy_ends[0], 11.5) if heavy else (now - 15 * day, 24)
        for i in range(HEAVY_CHECKINS if heavy else CHECKINS_EACH):
            cid, due = len(checkins) + 1, first + timedelta(hours=4 + every * i)
            sent = due + timedelta(seconds=2)
            over: dict[str, Any] = {"sent_at": sent, "closes_at": sent + timedelta(hours=12)}
            over |= {"closed_at": over["closes_at"], "status": "missed"}
            over["infusion_id"] = heavy_ids[sum(e <= due for e in heavy_ends) - 1] if heavy else pid
            if i % 10:  # daily ones after the 4-hour check-in
                over |= {"kind": "daily", "offset_seconds": None, "day": i % 10}
            if rng.random() > 0.1:
                rows = answered(rng, pid, cid, sent, i % 10 == 1)
                risk = "moderate" if rows[1]["value"] == "yes" else "none"
                answers += rows
                over |= {"status": "completed", "risk_level": risk, "asks_red_flags": i % 10 == 1}
                over["closed_at"], last[pid] = rows[-1]["answered_at"], cid
            checkins.append(ds.checkin_row(cid, pid, due, now, **over))
        planned = now + timedelta(hours=1 + pid % 40)
        checkins.append(ds.checkin_row(len(checkins) + 1, pid, planned, now, kind="daily", day=9))
    words = "can I take ibuprofen with the new tablets?"
    for k in range(20):  # typed outside any check-in
        values = (HEAVY, None, "message", owned(HEAVY, f"{k}: {words}"), "aftercare-checkin", "1")
        answers.append(
            dict(zip(ANSWER_KEYS.split(), (*values, now - (5 * k + 1) * day, None), strict=True))
        )
    clinicians = [
        {"id": k, "clinic_id": "north", "name": name, "telegram_user_id": FIRST_CLINICIAN_CHAT + k}
        | {"chat_id": FIRST_CLINICIAN_CHAT + k, "is_admin": k == 1, "active": True}
        | {"created_at": now - 200 * day}
        for k, name in enumerate(CLINICIANS, 1)
    ]
    cases: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    specs = [(pid, "open", now) for pid in range(1, OPEN_CASES + 1)]
    specs += [(HEAVY, "resolved", now - (140 - 11 * k) * day) for k in range(12)]
    for n, (pid, status, when) in enumerate(specs, 1):
        opened, acked = when - timedelta(minutes=3 + 7 * (n % 100)), n % 4 == 0
        status = "acknowledged" if status == "open" and acked else status
        acked, done = acked or status == "resolved", status == "resolved"
        reason = "\n".join(
            f"[{opened + timedelta(minutes=5 * k):%Y-%m-%d %H:%M} UTC] {FINDINGS[(n + k) % 5][1]}"
            for k in range(1 + n % 3)
        )
        head = (n, "north", pid, last.get(pid) if n % 5 else None, FINDINGS[n % 5][0])
        why = (
            ("checkin", reason, None) if n % 5 else ("message", reason, owned(pid, "I can't go on"))
        )
        ladder = (status, opened, opened, 1, None if acked else now + timedelta(minutes=30 + n))
        taken = (opened + timedelta(minutes=4), 1 + n % 6) if acked else (None, None)
        closed = (opened + 2 * timedelta(hours=1), 1 + n % 6, owned(pid, "Called; plan reviewed."))
        values = (*head, *why, *ladder, *taken, *(closed if done else (None,) * 3), None, None)
        cases.append(dict(zip(CASE_KEYS.split(), values, strict=True)))
        for step in range(1 + n % 3):
            failed = (n + step) % 17 == 0
            paged = (len(pages) + 1, n, 1 + (n + step) % 6, step, "failed" if failed else "sent")
            error = "Forbidden: bot was blocked by the user" if failed else None
            at = opened + timedelta(minutes=15 * step)
            pages.append(dict(zip(PAGE_KEYS.split(), (*paged, 1000 + n, error, at), strict=True)))
    counts = {}
    tables = (Patient, Infusion, Checkin, Answer, Clinician, Case, Page)
    made = (patients, infusions, checkins, answers, clinicians, cases, pages)
    for model, rows_of in zip(tables, made, strict=True):
        counts[model.__name__.lower()] = await ds.insert_chunked(engine, model, iter(rows_of))
    await ds.fix_sequences(engine)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            for name in ("clinician", "escalation", "page"):
                seq = f"pg_get_serial_sequence('{name}', 'id')"
                await conn.execute(text(f"SELECT setval({seq}, (SELECT MAX(id) FROM {name}))"))
    await ds.analyze(engine)
    return counts


async def open_session(db: Database, now: datetime) -> str:
    """Dr Ada's session token, as redeeming a /console link gives it."""
    async with db.transaction() as session:
        clinician = await session.get(Clinician, 1)
        assert clinician is not None
        link = await issue_link(session, clinician=clinician, now=now)
        redeemed = await redeem_link(session, token=link, now=now)
    if not isinstance(redeemed, tuple):
        raise BenchError(f"sign-in refused: {redeemed}")
    return redeemed[0]


# ----------------------------------------------------------------------------- measuring


SERIES = ("server", "cpu", "sql", "trip")  # as Timing records them, then the round trip


async def measure(
    client: httpx.AsyncClient, timing: Timing, path: str, warmup: int, n: int
) -> dict[str, Any]:
    """Per page: sorted server / cpu / round-trip ms, median SQL statements, statuses, sizes."""
    got: dict[str, Any] = {"server": [], "cpu": [], "sql": [], "trip": [], "statuses": {}}
    body = b""
    for i in range(warmup + n):
        mark, started = len(timing.hits), time.perf_counter()
        response = await client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        for _ in range(1000):  # the wrapper records just after its last send returns
            if len(timing.hits) > mark:
                break
            await asyncio.sleep(0.001)
        status, *figures_of = timing.hits[mark]
        if status not in (200, 204):
            raise BenchError(f"GET {path}: {status} {response.text[:300]}")
        if status == 200 and "?v=" in path:  # the list changed: htmx asks with the new version
            path = "/console/cases/list?v=" + re.findall(r"list\?v=(\w+)", response.text)[0]
        if i >= warmup:
            for key, value in zip(SERIES, (*figures_of, elapsed), strict=True):
                got[key].append(value)
            got["statuses"][status] = got["statuses"].get(status, 0) + 1
            body = body or response.content
    got |= {key: sorted(got[key]) for key in SERIES}
    got["sql"] = got["sql"][len(got["sql"]) // 2]
    return got | {"bytes": len(body), "gzip": len(gzip.compress(body)) if body else 0}


def figures(values: list[float]) -> str:
    return " ".join(
        f"{v:6.1f}" for v in (*(percentile(values, p) for p in (50, 90, 99)), values[-1])
    )


async def run(args: argparse.Namespace) -> int:
    load_before = os.getloadavg()
    async with database_url(args.database_url) as url, BotApiSandbox() as sandbox:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        http = {
            "health_port": port,
            "webhook_listen": "127.0.0.1",
            "console_url": f"{base}/console",
        }
        # The tests' settings (tests/auxil/harness.py), with the production tick of 1 s.
        settings = make_settings(sandbox, url, dispatch_interval_seconds=1.0, **http)
        clinics = parse_clinics(ds.CLINIC_TOML, source="bench")
        ctx = await bot.app.prepare(settings, clinics=clinics, db=open_database(url))
        stop, task = asyncio.Event(), None
        try:
            sql = "select sqlite_version()" if ctx.db.dialect == "sqlite" else "show server_version"
            async with ctx.db.engine.connect() as conn:
                version = (await conn.exec_driver_sql(sql)).scalar()
            started = time.monotonic()
            counts = await populate(ctx.db.engine, ctx.clock.now(), args.patients)
            made = ", ".join(f"{v:,} {k}" for k, v in counts.items())
            print(f"data: {made} rows in {time.monotonic() - started:.1f}s", flush=True)
            token = await open_session(ctx.db, ctx.clock.now())
            for k, name in enumerate(CLINICIANS, 1):
                sandbox.add_user(FIRST_CLINICIAN_CHAT + k, name)
            timing = Timing(ctx.db.engines)
            bot.app.console_mount = timing.mount  # type: ignore[assignment]
            task = asyncio.create_task(bot.app.serve(ctx, stop))
            await sandbox.wait_for_call("deleteWebhook", timeout=10)
            if args.gc_freeze:  # what `serve` could do once started: old objects out of GC's way
                gc.collect()
                gc.freeze()
            cookies = {SESSION_COOKIE: token}
            async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=30) as client:
                shown = (await client.get("/console/cases/list")).text
                unchanged = re.findall(r"/console/cases/list\?v=\w+", shown)[0]
                pages = {
                    "queue page": "/console/",
                    "queue fragment": "/console/cases/list",
                    "queue fragment, unchanged": unchanged,
                    f"patients list ({args.patients:,})": "/console/patients",
                    "timeline (300 check-ins)": f"/console/patients/P-{HEAVY:07d}",
                }
                results = {}
                for name, path in pages.items():
                    results[name] = await measure(client, timing, path, args.warmup, args.requests)
                    print(f"  {name}: done", flush=True)
        finally:
            bot.app.console_mount = ORIGINAL_MOUNT
            stop.set()
            if task is not None:
                with suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, timeout=15)
            await ctx.db.dispose()

    load = f"load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after (1 min)"
    print(f"\nbackend:  {ctx.db.dialect} {version}")
    print(f"machine:  python {platform.python_version()}, {os.cpu_count()} cpu, {load}")
    print("setup:    the whole bot in-process (prepare + serve against the sandbox Bot API),")
    print(f"          console on its uvicorn server at {base}; httpx client in the same loop")
    freeze = ", gc.freeze() after start-up" if args.gc_freeze else ""
    print(f"requests: {args.requests} a page, one at a time, {args.warmup} warm-up{freeze}; ms\n")
    print(
        f"{'page':<26} {'server p50    p90    p99    max':>30}  {'cpu p50  p99':>13}  "
        f"{'round trip p50 p90 p99 max':>27}  SQL     bytes    gzip  p99<{TARGET_P99_MS:.0f}"
    )
    for name, r in results.items():
        met = "met" if percentile(r["server"], 99) < TARGET_P99_MS else "NOT met"
        codes = "" if set(r["statuses"]) == {200} else f"  {r['statuses']}"
        cpu = f"{percentile(r['cpu'], 50):6.1f} {percentile(r['cpu'], 99):6.1f}"
        print(
            f"{name:<26} {figures(r['server'])}  {cpu}  {figures(r['trip'])}  {r['sql']:>3} "
            f"{r['bytes']:>9,} {r['gzip']:>7,}  {met}{codes}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.console", description=__doc__)
    parser.add_argument(
        "--patients", type=int, default=PATIENTS, help=f"active patients ({PATIENTS:,})"
    )
    parser.add_argument("--requests", type=int, default=200, help="measured per page (200)")
    parser.add_argument("--warmup", type=int, default=20, help="excluded, per page (20)")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() once serving")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0 or args.patients < OPEN_CASES:
        parser.error(f"--requests must be >= 1, --warmup >= 0, --patients >= {OPEN_CASES}")
    try:
        return asyncio.run(run(args))
    except (BenchError, OSError, asyncpg.PostgresError) as exc:
        print(f"console: run broke: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
