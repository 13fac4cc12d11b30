"""Page latency: an escalating tap reaching the Bot API -> the clinician's page reaching it.

Runs the real application in-process against the sandbox Bot API (as tests/auxil/harness.py
does), one clinician on call as primary, and walks N patients one after another through a
check-in up to C-SSRS item 6 = Yes (high; the check-in's first finding, so the crisis card
goes out beside the page). Only that last tap is measured: from the moment it
is queued at the sandbox (a pending long poll is answered at once) to the arrival at the
sandbox of the sendMessage to the clinician's chat whose text contains "priority — case #".

    .venv/bin/python -m bench.page_latency [--escalations 200] [--database-url URL]

Before the escalations it measures the floor (bench/floor.py: a bare client's one transaction
and one sendMessage, same sandbox, same kind of database) and prints the figures beside it.

Exit status: 0 when every escalation paged (whether or not the target was met), 1 when one
never paged, 2 when the run itself broke.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bench.floor import FLOOR_CHAT, latency_floor, ratio
from bot.app import prepare, serve
from bot.clinic_config import parse_clinics
from bot.context import AppContext
from bot.services.enrollment import (
    accept_consent,
    check_invite,
    create_clinician_invite,
    enroll_patient,
)
from bot.services.infusions import record_infusion
from bot.services.oncall import add_shift
from bot.settings import Settings
from sandbox import BotApiSandbox
from sandbox.state import RecordedCall
from storage.crypto.keyring import open_database

TOKEN = "123456:BENCH-TOKEN-abcdefghijklmnopqrstuvwxyz"
PAGE_MARK = "priority — case #"
TARGET_P99_MS = 100.0
FLOOR_RATIO = 3.0  # issue 32: p99 within 3× the floor measured in the same run
TARGET_ACK_MS = 15.0  # and the tap's spinner stopped within 15 ms (p50)
CLINICIAN = 7101
FIRST_PATIENT = 9_100_000

# Quiet hours off (start = end), a check-in one second after the infusion, and a high ladder
# whose second rung is far beyond the run, so the only page per case is the fast-path one.
CLINIC_TOML = """
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "UTC"
contact_phone = "+1 555 0100"
quiet_hours = { start = "00:00", end = "00:00" }

[clinics.protocols.standard]
offsets = ["PT1S"]
red_flags_at = "PT1S"
daily_days = 0

[clinics.escalation]
high = [
  { after = "PT0S", notify = ["primary"] },
  { after = "PT2H", notify = ["primary", "backup"] },
]
"""

# (question text fragment, button) up to the measured tap; s2 = Yes opens a low case
# (queued, nobody paged), s4 = Yes raises it to high, which pages the primary at once.
LEAD_IN = (
    ("mood", "5"),
    ("wished you were dead", "No"),  # C-SSRS item 1
    ("thoughts of killing yourself", "No"),  # item 2: the screener goes straight to item 6
)
# Item 6 = Yes: high, and the check-in's first finding, so the crisis card (shown once per
# check-in) goes out beside the page: the page's worst case.
FINAL = ("prepared to do anything to end your life", "Yes")


class BenchError(Exception):
    """The run itself broke."""


@dataclass
class Sample:
    patient: int
    tapped: float
    page: RecordedCall | None
    ack_at: float | None
    card_at: float | None

    @property
    def latency_ms(self) -> float:
        assert self.page is not None
        return (self.page.at - self.tapped) * 1000


# ----------------------------------------------------------------------------- database


@asynccontextmanager
async def database_url(url: str | None) -> AsyncIterator[str]:
    """A fresh SQLite file, or a throwaway PostgreSQL database created next to `url`."""
    if url is None:
        with tempfile.TemporaryDirectory(prefix="aftercare-bench-") as tmp:
            yield f"sqlite+aiosqlite:///{tmp}/aftercare.db"
        return
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        yield url
        return
    if parsed.get_backend_name() != "postgresql":
        raise BenchError(f"unsupported database URL {parsed.drivername!r}")
    admin = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"aftercare_bench_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


# ----------------------------------------------------------------------------- the bot


@asynccontextmanager
async def running_bot(
    sandbox: BotApiSandbox, url: str, dispatch_interval: float
) -> AsyncIterator[AppContext]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        telegram_token=TOKEN,  # type: ignore[arg-type]
        telegram_api_url=sandbox.url,
        database_url=url,
        dispatch_interval_seconds=dispatch_interval,
    )
    ctx = await prepare(
        settings, clinics=parse_clinics(CLINIC_TOML, source="bench"), db=open_database(url)
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve(ctx, stop))
    try:
        await sandbox.wait_for_call("deleteWebhook", timeout=10)
        yield ctx
    finally:
        stop.set()
        with suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=15)
        await ctx.db.dispose()


def noon_zone(now: datetime) -> str:
    """A fixed-offset zone where it is about midday now."""
    shift = 12 - now.hour
    return "Etc/GMT" if shift == 0 else f"Etc/GMT{'-' if shift > 0 else '+'}{abs(shift)}"


async def add_clinician_on_call(ctx: AppContext, sandbox: BotApiSandbox) -> None:
    clinic = ctx.clinics.clinics[0]
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        token = await create_clinician_invite(
            session, clinic=clinic, name="Dr Ada", is_admin=False, now=now, actor="bench"
        )
    sandbox.add_user(CLINICIAN, "Dr Ada")
    sandbox.send_text(CLINICIAN, f"/start {token}")
    await sandbox.wait_for_message(CLINICIAN, "registered as a clinician", timeout=10)
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        await add_shift(
            session,
            clinic=clinic,
            clinician_name="Dr Ada",
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(hours=3),
            now=now,
            actor="bench",
            role="primary",
        )


async def add_patient(ctx: AppContext, sandbox: BotApiSandbox, user_id: int) -> None:
    """Enrolled, consented, with an infusion whose check-in is due in a second."""
    clinic = ctx.clinics.clinics[0]
    now = ctx.clock.now()
    ref = f"B-{user_id}"
    sandbox.add_user(user_id, ref)
    async with ctx.db.transaction() as session:
        patient, token = await enroll_patient(
            session,
            clinic=clinic,
            ref=ref,
            timezone=noon_zone(datetime.now(UTC)),
            baseline_mood=None,
            emergency_contact=None,
            now=now,
            actor="bench",
        )
        checked = await check_invite(session, token=token, chat_id=user_id, now=now)
        if checked.invite is None or checked.problem is not None:
            raise BenchError(f"invite for {ref} refused: {checked.problem}")
        await accept_consent(
            session, invite=checked.invite, user_id=user_id, chat_id=user_id, now=now
        )
        await record_infusion(
            session,
            patient=patient,
            clinic=clinic,
            ended_at=now,
            protocol=None,
            now=now,
            actor="bench",
        )


# ----------------------------------------------------------------------------- the patient side


def _open_question(sandbox: BotApiSandbox, chat: int, contains: str) -> dict[str, Any] | None:
    for message in reversed(sandbox.chat(chat)):
        if contains in (message.get("text") or "") and (message.get("reply_markup") or {}).get(
            "inline_keyboard"
        ):
            return message
    return None


async def wait_question(
    sandbox: BotApiSandbox, chat: int, contains: str, wait: float = 10.0
) -> dict[str, Any]:
    """Poll (cheaply, every 2 ms) for an open question; no scans of the whole call log."""
    deadline = time.monotonic() + wait
    while (question := _open_question(sandbox, chat, contains)) is None:
        if time.monotonic() > deadline:
            texts = [(m.get("text") or "")[:40] for m in sandbox.chat(chat)]
            raise BenchError(f"no open question {contains!r} for {chat}; chat: {texts}")
        await asyncio.sleep(0.002)
    return question


async def escalate(sandbox: BotApiSandbox, patient: int, *, settle: float, wait: float) -> Sample:
    """Lead-in answers, a quiet moment, then the measured tap and its page."""
    for contains, button in LEAD_IN:
        question = await wait_question(sandbox, patient, contains)
        sandbox.tap(patient, question["message_id"], button_text=button)
    question = await wait_question(sandbox, patient, FINAL[0])
    # Let the previous answer's handler finish (it writes after sending the next question)
    # and the bot go back to its long poll: measure an idle system, not a queue.
    await asyncio.sleep(settle)
    calls = sandbox.calls
    start = len(calls)
    tapped = time.monotonic()
    query_id = sandbox.tap(patient, question["message_id"], button_text=FINAL[1])
    deadline = tapped + wait
    page = ack_at = card_at = None
    seen = start
    # Scan until the page, the callback answer and the card are all seen (any order).
    while (page is None or ack_at is None or card_at is None) and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
        for call in calls[seen:]:
            p = call.params
            if call.method == "answerCallbackQuery" and p.get("callback_query_id") == query_id:
                ack_at = call.at
            elif call.method == "sendMessage" and p.get("chat_id") == patient and card_at is None:
                card_at = call.at  # the crisis card is the first message after the tap
            elif (
                page is None
                and call.method == "sendMessage"
                and p.get("chat_id") == CLINICIAN
                and PAGE_MARK in str(p.get("text") or "")
                and call.at >= tapped
            ):
                page = call
        seen = len(calls)
    if page is not None:
        # The patient is told after the page; wait for it so the next case starts idle.
        with suppress(TimeoutError):
            await sandbox.wait_for_message(patient, "has been paged", timeout=wait)
    return Sample(patient, tapped, page, ack_at, card_at)


# ----------------------------------------------------------------------------- statistics


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _ms(samples: list[Sample], a: str, b: str) -> str:
    spans = []
    for s in samples:
        start = s.tapped if a == "tap" else getattr(s, a)
        end = s.page.at if b == "page" and s.page else getattr(s, b, None)
        if start is not None and end is not None:
            spans.append((end - start) * 1000)
    if not spans:
        return "n/a"
    return f"{statistics.median(spans):.1f}ms"


async def run(args: argparse.Namespace) -> int:
    total = args.warmup + args.escalations
    load_before = os.getloadavg()
    patients = [FIRST_PATIENT + i for i in range(total)]
    async with (
        database_url(args.database_url) as url,
        BotApiSandbox() as sandbox,
        running_bot(sandbox, url, args.dispatch_interval) as ctx,
    ):
        backend = ctx.db.dialect
        async with ctx.db.engine.connect() as conn:
            server = (
                await conn.exec_driver_sql(
                    "select sqlite_version()" if backend == "sqlite" else "show server_version"
                )
            ).scalar()
        sandbox.add_user(FLOOR_CHAT)  # the floor: same sandbox, same kind of database, now
        floor = await latency_floor(sandbox.url, FLOOR_CHAT, url, args.floor_rounds)
        await add_clinician_on_call(ctx, sandbox)
        started = time.monotonic()
        for patient in patients:
            await add_patient(ctx, sandbox, patient)
        for patient in patients:
            await wait_question(sandbox, patient, "mood", wait=120)
        print(
            f"set up {total} patients, check-ins delivered in "
            f"{time.monotonic() - started:.1f}s; measuring...",
            flush=True,
        )
        samples: list[Sample] = []
        run_started = time.monotonic()
        for i, patient in enumerate(patients):
            sample = await escalate(sandbox, patient, settle=args.settle, wait=args.timeout)
            if i >= args.warmup:
                samples.append(sample)
            if sample.page is None:
                print(f"  patient {patient}: no page within {args.timeout}s", flush=True)
            done = i + 1 - args.warmup
            if done > 0 and done % 50 == 0:
                print(f"  {done}/{args.escalations}", flush=True)
        elapsed = time.monotonic() - run_started

    paged = sorted(s.latency_ms for s in samples if s.page is not None)
    missing = len(samples) - len(paged)
    print()
    print(f"backend:        {backend} {server}")
    print(
        f"machine:        python {platform.python_version()} ({platform.python_implementation()})"
        f", {os.cpu_count()} cpu, {platform.system()} {platform.release()} {platform.machine()}"
    )
    print(
        f"load average:   {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after "
        "(1 min; other work on the machine skews the tail)"
    )
    print(
        f"escalations:    {len(samples)} measured ({args.warmup} warm-up excluded), "
        f"{missing} never paged; {elapsed:.1f}s"
    )
    if not paged:
        print(f"page latency {backend} n=0: no page at all")
        return 1
    p50, p95, p99 = (percentile(paged, p) for p in (50, 95, 99))
    print(
        f"latency ms:     p50={p50:.1f} p95={p95:.1f} p99={p99:.1f} max={paged[-1]:.1f} "
        f"min={paged[0]:.1f} mean={statistics.fmean(paged):.1f}"
    )
    ok = [s for s in samples if s.page is not None]
    print(
        "median from tap: answerCallbackQuery "
        f"{_ms(ok, 'tap', 'ack_at')}, crisis card {_ms(ok, 'tap', 'card_at')}, "
        f"page {_ms(ok, 'tap', 'page')} (they run side by side)"
    )
    print(floor.line())
    met = "met" if p99 < TARGET_P99_MS else "NOT met"
    print(
        f"page latency {backend} n={len(paged)} p50={p50:.1f}ms p95={p95:.1f}ms "
        f"p99={p99:.1f}ms max={paged[-1]:.1f}ms target p99<{TARGET_P99_MS:.0f}ms: {met}"
    )
    within = "met" if p99 <= FLOOR_RATIO * floor.at(99) else "NOT met"
    print(
        f"against the floor: p50 {ratio(p50, floor.at(50))}, p99 {ratio(p99, floor.at(99))} "
        f"(target p99 <= {FLOOR_RATIO:.0f}× the floor's: {within})"
    )
    acks = [(s.ack_at - s.tapped) * 1000 for s in ok if s.ack_at is not None]
    if acks:
        ack = statistics.median(acks)
        fast = "met" if ack < TARGET_ACK_MS else "NOT met"
        print(
            f"answerCallbackQuery p50 {ack:.1f}ms from the tap "
            f"(target < {TARGET_ACK_MS:.0f}ms: {fast})"
        )
    return 1 if missing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.page_latency", description=__doc__)
    parser.add_argument("--escalations", type=int, default=200, help="measured (default 200)")
    parser.add_argument("--warmup", type=int, default=10, help="excluded (default 10)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: a temporary SQLite file; a postgresql+asyncpg:// URL gets a "
        "throwaway database created on that server and dropped afterwards",
    )
    parser.add_argument(
        "--dispatch-interval",
        type=float,
        default=1.0,
        help="dispatcher tick in seconds (default 1.0, the production default)",
    )
    parser.add_argument(
        "--settle", type=float, default=0.1, help="idle pause before each measured tap (s)"
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="wait for a page (s)")
    parser.add_argument(
        "--floor-rounds", type=int, default=200, help="rounds of the floor, measured first (200)"
    )
    args = parser.parse_args(argv)
    if args.escalations < 1 or args.warmup < 0:
        parser.error("--escalations must be >= 1 and --warmup >= 0")
    try:
        return asyncio.run(run(args))
    except (BenchError, OSError, asyncpg.PostgresError) as exc:
        print(f"page_latency: run broke: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
