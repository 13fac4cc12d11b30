"""Send throughput: how fast running instances turn due check-ins into sent ones.

Every part runs as a process of its own, as in production: the sandbox Bot API
(`bench.sandbox_process`, standing in for Telegram's servers) and 1..K `aftercare run`
instances (long polling for one, webhooks for several; dispatcher tick 0.2 s; no rate limiter:
`AFTERCARE_SEND_RATE_PER_SECOND=0`), all on one database. N active patients with an
infusion each are inserted first; once every instance answers `GET /healthz` with 200, N
check-ins that fell due a minute ago are inserted in one transaction, and the clock runs
from its commit until the database holds all N as 'sent' (polled every 20 ms).

    .venv/bin/python -m bench.throughput [--checkins 2000] [--database-url URL] [--instances K]

Also reported: sendMessage calls beyond one per chat (duplicates; must be 0), the span from
the first to the last sendMessage as the sandbox saw them, and each instance's exit code and
time after SIGTERM. Exit status 0 when all were sent once, 1 when some were not sent or were
sent twice, 2 when the run itself broke. Several instances need PostgreSQL. After the run
the same sandbox process is driven by a bare aiohttp client (bench/floor.py's send ceiling)
and then by PTB's ExtBot over the bot's transport sending questions (its stack ceiling); the
rate is printed as a share of each.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import func, select
from sqlmodel import col

from bench import DATA_KEY
from bench.breakdown import profiling
from bench.dataset import (
    CLINIC_TOML,
    FIRST_CHAT,
    analyze,
    checkin_row,
    fix_sequences,
    infusion_row,
    insert_chunked,
    patient_row,
    utcnow,
)
from bench.floor import send_ceiling, stack_ceiling
from bench.page_latency import BenchError, database_url
from bot.app import prepare
from bot.clinic_config import parse_clinics
from bot.settings import Settings
from storage.engine import Database
from storage.models import Checkin, Infusion, Patient
from storage.states import CheckinStatus

TOKEN = "123456:BENCH-TOKEN-abcdefghijklmnopqrstuvwxyz"
TARGET_PER_SECOND = 500.0
CEILING_SHARE = 0.8  # issue 32: at least 0.8 of the bare client's sends/s, same sandbox


def say(line: str = "") -> None:
    print(line, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def count_sent(db: Database) -> int:
    async with db.engine.connect() as conn:
        query = select(func.count()).where(col(Checkin.status) == CheckinStatus.SENT)
        return int((await conn.execute(query)).scalar() or 0)


class SandboxProcess:
    """`bench.sandbox_process` as a child: its URL, and its report on request."""

    def __init__(self, users: int) -> None:
        self.users = users
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""

    async def __aenter__(self) -> SandboxProcess:
        profile = os.environ.get("BENCH_PROFILE")
        prefix = ["-m", "cProfile", "-o", f"{profile}/sandbox.prof"] if profile else []
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *prefix,
            "-m",
            "bench.sandbox_process",
            "--first-chat",
            str(FIRST_CHAT + 1),
            "--users",
            str(self.users),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        self.url = (await self._line(30)).removeprefix("url ")
        return self

    async def _line(self, seconds: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), seconds)
        if not line:
            raise BenchError("the sandbox process exited")
        return line.decode().strip()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def report(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(b"report\n")
        await self.proc.stdin.drain()
        return dict(json.loads(await self._line(60)))

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.write(b"quit\n")
            await self.proc.stdin.drain()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


@dataclass
class Instance:
    name: str
    proc: asyncio.subprocess.Process
    health_port: int
    log: Path


async def start_instance(
    index: int,
    url: str,
    api_url: str,
    config: Path,
    workdir: Path,
    interval: float,
    *,
    webhook: bool,
) -> Instance:
    aftercare = Path(sys.executable).parent / "aftercare"
    name, port = f"bench-{index}", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env |= {
        "AFTERCARE_DATA_KEY": DATA_KEY,
        "AFTERCARE_DATABASE_URL": url,
        "AFTERCARE_TELEGRAM_API_URL": api_url,
        "AFTERCARE_TELEGRAM_TOKEN": TOKEN,
        "AFTERCARE_CONFIG": str(config),
        "AFTERCARE_LOG_LEVEL": "WARNING",
        "AFTERCARE_INSTANCE_ID": name,
        "AFTERCARE_SEND_RATE_PER_SECOND": "0",
        "AFTERCARE_DISPATCH_INTERVAL_SECONDS": str(interval),
    }
    if webhook:  # several instances take webhooks (long polls would cancel each other: 409)
        env |= {
            "AFTERCARE_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
            "AFTERCARE_WEBHOOK_SECRET": "bench-secret",
            "AFTERCARE_WEBHOOK_LISTEN": "127.0.0.1",
            "AFTERCARE_WEBHOOK_PORT": str(port),
        }
    else:
        env["AFTERCARE_HEALTH_PORT"] = str(port)
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        command = [str(aftercare), "run"]
        if os.environ.get("BENCH_PROFILE"):  # diagnostics: cProfile each instance
            profile = f"{os.environ['BENCH_PROFILE']}/{name}.prof"
            command = [sys.executable, "-m", "cProfile", "-o", profile, *command]
        proc = await asyncio.create_subprocess_exec(
            *command, env=env, cwd=workdir, stdout=out, stderr=out
        )
    return Instance(name, proc, port, log)


async def wait_healthy(instances: list[Instance], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(trust_env=False) as client:
        for instance in instances:
            while True:
                if instance.proc.returncode is not None or time.monotonic() > deadline:
                    raise BenchError(
                        f"{instance.name} did not become healthy (exit "
                        f"{instance.proc.returncode}); log: {instance.log.read_text()[-2000:]}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    url = f"http://127.0.0.1:{instance.health_port}/healthz"
                    if (await client.get(url)).status_code == 200:
                        break
                await asyncio.sleep(0.1)


async def stop_instance(instance: Instance) -> tuple[int, float]:
    started = time.monotonic()
    if instance.proc.returncode is None:
        instance.proc.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.wait_for(instance.proc.wait(), timeout=60)
    except TimeoutError:
        instance.proc.kill()
        code = await instance.proc.wait()
    return code, time.monotonic() - started


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far, from /proc/<pid>/stat."""
    if pid is None:
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def log_errors(instance: Instance) -> list[str]:
    lines = instance.log.read_text(errors="replace").splitlines()
    return [line for line in lines if " ERROR " in line or "Traceback" in line][:5]


async def run(args: argparse.Namespace) -> int:
    n, k = args.checkins, args.instances
    async with (
        database_url(args.database_url) as url,
        SandboxProcess(n) as sandbox,
    ):
        workdir = Path(tempfile.mkdtemp(prefix="aftercare-throughput-"))
        config = workdir / "clinic.toml"
        config.write_text(CLINIC_TOML)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, telegram_token=TOKEN, database_url=url, config=config
        )
        ctx = await prepare(settings, clinics=parse_clinics(CLINIC_TOML, source=str(config)))
        db = ctx.db
        if k > 1 and db.dialect != "postgresql":
            raise BenchError("several instances share one PostgreSQL database, not SQLite")
        async with db.engine.connect() as conn:
            sql = "select sqlite_version()" if db.dialect == "sqlite" else "show server_version"
            backend = f"{db.dialect} {(await conn.exec_driver_sql(sql)).scalar()}"
        say(f"backend: {backend}; python {platform.python_version()}, {os.cpu_count()} cpu")
        now = utcnow()
        ended = now - timedelta(hours=4, minutes=1)
        await insert_chunked(db.engine, Patient, (patient_row(p, now) for p in range(1, n + 1)))
        await insert_chunked(
            db.engine, Infusion, (infusion_row(p, ended, now) for p in range(1, n + 1))
        )
        await fix_sequences(db.engine)
        await analyze(db.engine)

        instances = [
            await start_instance(
                i, url, sandbox.url, config, workdir, args.dispatch_interval, webhook=k > 1
            )
            for i in range(1, k + 1)
        ]
        try:
            await wait_healthy(instances)
            load_before = os.getloadavg()
            cpu_before = [cpu_seconds(i.proc.pid) for i in instances]
            sandbox_before = cpu_seconds(sandbox.pid)
            machine_before = machine_busy()
            due = utcnow() - timedelta(minutes=1)
            async with profiling(instances[0].proc.pid, args.profile):
                inserting = time.monotonic()
                await insert_chunked(
                    db.engine,
                    Checkin,
                    (checkin_row(p, p, due, now) for p in range(1, n + 1)),
                    chunk=n,  # one transaction: every check-in falls due at once
                )
                started = time.monotonic()
                say(f"{n:,} due check-ins committed in {started - inserting:.2f}s; clock starts")
                deadline = started + args.timeout
                sent = 0
                while time.monotonic() < deadline:
                    for instance in instances:
                        if instance.proc.returncode is not None:
                            raise BenchError(f"{instance.name} exited {instance.proc.returncode}")
                    sent = await count_sent(db)
                    if sent >= n:
                        break
                    await asyncio.sleep(0.02)
                finished = time.monotonic()
            load_after = os.getloadavg()
            cpu = [cpu_seconds(i.proc.pid) - b for i, b in zip(instances, cpu_before, strict=True)]
            sandbox_cpu = cpu_seconds(sandbox.pid) - sandbox_before
            machine_after = machine_busy()
            busy = (machine_after[0] - machine_before[0]) / max(
                1, machine_after[1] - machine_before[1]
            )
        finally:
            stops = [await stop_instance(instance) for instance in instances]
        await fix_sequences(db.engine)
        report = await sandbox.report()
        await db.dispose()
        # The ceiling, same sandbox process, after the run (its sends would count as duplicates)
        chats = [FIRST_CHAT + p for p in range(1, min(n, 100) + 1)]
        ceiling = await send_ceiling(sandbox.url, chats, args.ceiling_sends)
        stack = await stack_ceiling(sandbox.url, chats, args.ceiling_sends)

    elapsed = finished - started
    rate = sent / elapsed if elapsed > 0 else 0.0
    first, last = report["first_at"], report["last_at"]
    if first is not None and last is not None and last > first:
        spread = (report["sends"] - 1) / (last - first)
        span = f"first at {first - started:.2f}s, last at {last - started:.2f}s"
        span += f" (first->last {last - first:.2f}s, {spread:,.0f}/s)"
    else:
        span = "no sendMessage spread to measure"
    mode = "webhook" if k > 1 else "long polling"
    say(f"instances:      {k} (aftercare run, {mode}, no rate limiter installed)")
    say(f"load average:   {load_before[0]:.2f} before, {load_after[0]:.2f} after (1 min)")
    say(f"sent:           {sent:,}/{n:,} in the database in {elapsed:.2f}s; sendMessage {span}")
    say(f"duplicates:     {report['duplicates']} (sendMessage calls beyond one per chat)")
    say(
        f"CPU while sending: instances {', '.join(f'{c:.2f}s' for c in cpu)}, "
        f"sandbox {sandbox_cpu:.2f}s, of {elapsed:.2f}s wall; all {os.cpu_count()} CPUs "
        f"{busy:.0%} busy (database server included)"
    )
    for instance, (code, seconds) in zip(instances, stops, strict=True):
        say(f"{instance.name}:        SIGTERM -> exit {code} in {seconds:.2f}s")
        for line in log_errors(instance):
            say(f"    log: {line[:200]}")
    met = "met" if rate >= TARGET_PER_SECOND else "NOT met"
    say(
        f"throughput {backend} instances={k} n={n} {rate:,.0f} check-ins/s "
        f"target >= {TARGET_PER_SECOND:.0f}/s: {met}; duplicates={report['duplicates']}"
    )
    share = rate / ceiling if ceiling > 0 else 0.0
    close = "met" if share >= CEILING_SHARE else "NOT met"
    say(
        f"ceiling:        a bare aiohttp client sends {ceiling:,.0f} sendMessage/s to the same "
        f"sandbox; the run reached {share:.2f} of it (target >= {CEILING_SHARE}: {close})"
    )
    say(
        f"stack ceiling:  PTB's ExtBot over the bot's transport sends {stack:,.0f} questions/s "
        f"({stack / ceiling:.2f} of the bare client's); the run reached {rate / stack:.2f} of it"
    )
    return 0 if sent >= n and report["duplicates"] == 0 else 1


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
        "--instances", type=int, default=1, help="aftercare run processes (default 1)"
    )
    parser.add_argument(
        "--dispatch-interval", type=float, default=0.2, help="dispatcher tick (default 0.2 s)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after (s)")
    parser.add_argument("--profile", help="py-spy the (first) instance over the run into this file")
    parser.add_argument(
        "--ceiling-sends", type=int, default=4000, help="the bare client's sends (default 4000)"
    )
    args = parser.parse_args(argv)
    if args.checkins < 1:
        parser.error("--checkins must be >= 1")
    if not 1 <= args.instances <= 8:
        parser.error("--instances must be 1..8")
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return asyncio.run(run(args))
    except (BenchError, OSError, asyncpg.PostgresError) as exc:
        print(f"throughput: run broke: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
