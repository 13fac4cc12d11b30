"""Page fan-out latency per channel: from the patient's escalating tap to the page arriving in
Telegram (the sandbox Bot API), by e-mail (a real SMTP server on loopback) and at the paging
service (a local HTTP receiver standing in for PagerDuty's Events API v2).

The setup is bench/page_latency.py's (the whole bot in-process, long polling, the production
dispatcher tick, one clinician on call, patients answering the C-SSRS screener until item 6 =
Yes), with the high ladder's first rung paging by Telegram, e-mail and the paging service at
once. The Telegram arrival is the sandbox's own timestamp of the `sendMessage`; the e-mail and
the event are seen by polling the SMTP server's mailbox and the receiver every millisecond, so
their figures carry up to ~1 ms of polling.

    .venv/bin/python -m bench.page_fanout [--escalations 100] [--database-url URL]

A measurement: exit status 0 whether or not the target (p99 < 100 ms on every channel) is met,
1 if a page never arrived on some channel, 2 if the run broke.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import asyncpg

from bench import page_latency as pl
from bot.app import prepare, serve
from bot.clinic_config import parse_clinics
from bot.context import AppContext
from bot.services.clinic.team import set_contact
from bot.settings import Settings
from sandbox import BotApiSandbox
from sandbox.smtp import SmtpSink
from storage.crypto.keyring import open_database
from storage.oncall import clinician_by_name
from tests.auxil.harness import TOKEN
from tests.auxil.receiver import Receiver

MAIL = "ada@north.example"
TARGET_P99_MS = 100.0
CHANNELS = ("telegram", "email", "pager")


def clinic_toml(events_url: str) -> str:
    return (
        pl.CLINIC_TOML.replace(
            '{ after = "PT0S", notify = ["primary"] },',
            '{ after = "PT0S", notify = ["primary"], channels = ["telegram", "email", "pager"] },',
        )
        + f'\n[clinics.paging]\nevents_url = "{events_url}"\nrouting_key = "BENCH-KEY"\n'
    )


@asynccontextmanager
async def running_bot(
    sandbox: BotApiSandbox, url: str, smtp: SmtpSink, events_url: str, interval: float
) -> AsyncIterator[AppContext]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        telegram_token=TOKEN,  # type: ignore[arg-type]
        telegram_api_url=sandbox.url,
        database_url=url,
        dispatch_interval_seconds=interval,
        smtp_url=smtp.url,  # type: ignore[arg-type]
        outbound_allow="127.0.0.1",  # the receiver and the SMTP sink are on this machine
        outbound_allow_http=True,
    )
    clinics = parse_clinics(clinic_toml(events_url), source="bench")
    ctx = await prepare(settings, clinics=clinics, db=open_database(url))
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


async def escalate(
    sandbox: BotApiSandbox, smtp: SmtpSink, receiver: Receiver, patient: int, wait: float
) -> dict[str, float | None]:
    """The lead-in, a settle, the measured tap; ms from the tap to each channel's arrival."""
    for contains, button in pl.LEAD_IN:
        question = await pl.wait_question(sandbox, patient, contains)
        sandbox.tap(patient, question["message_id"], button_text=button)
    question = await pl.wait_question(sandbox, patient, pl.FINAL[0])
    await asyncio.sleep(0.1)
    calls, mails, events = sandbox.calls, len(smtp.messages), len(receiver.requests)
    seen = len(calls)
    tapped = time.monotonic()
    sandbox.tap(patient, question["message_id"], button_text=pl.FINAL[1])
    arrived: dict[str, float | None] = dict.fromkeys(CHANNELS)
    while None in arrived.values() and time.monotonic() < tapped + wait:
        await asyncio.sleep(0.001)
        now = time.monotonic()
        for call in calls[seen:]:
            text = str(call.params.get("text") or "")
            if call.method == "sendMessage" and pl.PAGE_MARK in text and call.at >= tapped:
                arrived["telegram"] = arrived["telegram"] or (call.at - tapped) * 1000
        seen = len(calls)
        if arrived["email"] is None and len(smtp.messages) > mails:
            arrived["email"] = (now - tapped) * 1000
        if arrived["pager"] is None and len(receiver.requests) > events:
            arrived["pager"] = (now - tapped) * 1000
    with suppress(TimeoutError):
        await sandbox.wait_for_message(patient, "has been paged", timeout=wait)
    return arrived


async def run(args: argparse.Namespace) -> int:
    total = args.warmup + args.escalations
    load_before = os.getloadavg()
    patients = [pl.FIRST_PATIENT + i for i in range(total)]
    samples: list[dict[str, float | None]] = []
    with SmtpSink() as smtp:
        async with (
            Receiver() as receiver,
            pl.database_url(args.database_url) as url,
            BotApiSandbox() as sandbox,
            running_bot(sandbox, url, smtp, f"{receiver.url}/v2/enqueue", 1.0) as ctx,
        ):
            backend = ctx.db.dialect
            await pl.add_clinician_on_call(ctx, sandbox)
            async with ctx.db.transaction() as session:
                ada = await clinician_by_name(session, clinic_id="north", name="Dr Ada")
                assert ada is not None
                await set_contact(
                    session,
                    clinician=ada,
                    email=MAIL,
                    pager_key=None,
                    actor="bench",  # type: ignore[arg-type]
                    now=ctx.clock.now(),
                )
            for patient in patients:
                await pl.add_patient(ctx, sandbox, patient)
            for patient in patients:
                await pl.wait_question(sandbox, patient, "mood", wait=120)
            print(f"set up {total} patients; measuring...", flush=True)
            for i, patient in enumerate(patients):
                sample = await escalate(sandbox, smtp, receiver, patient, args.timeout)
                if i >= args.warmup:
                    samples.append(sample)
    print(
        f"\nbackend:  {backend}; python {platform.python_version()}, {os.cpu_count()} cpu, "
        f"load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after (1 min)"
    )
    print(
        f"escalations: {len(samples)} measured ({args.warmup} warm-up excluded); ms from the "
        "patient's tap to the page's arrival"
    )
    missing = 0
    for channel in CHANNELS:
        values = sorted(s[channel] for s in samples if s[channel] is not None)  # type: ignore[type-var]
        missing += len(samples) - len(values)
        if not values:
            print(f"  {channel:<9} never arrived")
            continue
        p50, p95, p99 = (pl.percentile(values, p) for p in (50, 95, 99))  # type: ignore[arg-type]
        met = "met" if p99 < TARGET_P99_MS else "NOT met"
        print(
            f"  {channel:<9} n={len(values)} p50={p50:.1f} p95={p95:.1f} p99={p99:.1f} "
            f"max={values[-1]:.1f}  (target p99 < {TARGET_P99_MS:.0f} ms: {met})"
        )
    return 1 if missing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.page_fanout", description=__doc__)
    parser.add_argument("--escalations", type=int, default=100, help="measured (default 100)")
    parser.add_argument("--warmup", type=int, default=5, help="excluded (default 5)")
    parser.add_argument("--timeout", type=float, default=5.0, help="per channel, seconds")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args(argv)
    if args.escalations < 1 or args.warmup < 0:
        parser.error("--escalations must be >= 1 and --warmup >= 0")
    try:
        return asyncio.run(run(args))
    except (pl.BenchError, OSError, asyncpg.PostgresError) as exc:
        print(f"page_fanout: run broke: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
