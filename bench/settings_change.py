"""A live schedule change for a clinic of 1,000 active patients: the preview, the save with its
re-plan, and the time until a second, running instance uses the new version.

Two instances share one database: instance A is `prepare`d only (it saves, as the console's
route does, through `bot.services.clinic.settings`); instance B is the whole bot serving
(`prepare` + `serve` against the sandbox Bot API, polling, the dispatcher ticking, the settings
watch at the production default of every 2 s). 1,000 patients get an infusion an hour ago
through `record_infusion` (a 4-hour and a 24-hour check-in unsent, and 7 dailies each; on
PostgreSQL the statistics are then refreshed, as autovacuum would after such a load). Then,
alternately, the 4-hour check-in becomes a 6-hour one and back:

- preview: `preview()` in its own transaction (the plan of a sample infusion before and after,
  and how many patients would be re-planned), `--previews` times;
- save: `save()` (a new version, every unsent check-in re-planned, audited) until its commit;
- reach: from that commit until instance B's `AppContext` uses the new version.

    .venv/bin/python -m bench.settings_change [--patients 1000] [--saves 3] [--database-url URL]

Targets: preview under 200 ms, re-plan under 2 s, every instance within 5 s. Exit status 0
whether or not they are met; 2 if the run broke.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from contextlib import suppress
from datetime import UTC, datetime, timedelta

import asyncpg

import bot.app
from bench import dataset as ds
from bench.page_latency import BenchError, database_url, percentile
from bot.clinic_config import ClinicConfig, parse_clinics
from bot.services.clinic import settings as clinic_settings
from bot.services.infusions import record_infusion
from sandbox import BotApiSandbox
from storage.crypto.keyring import open_database
from storage.engine import Database
from storage.models import Patient
from storage.states import Actor, ActorKind, PatientStatus
from tests.auxil.harness import make_settings

CLINIC_TOML = """
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "UTC"
contact_phone = "+1 555 0100"
managed_by = "console"
quiet_hours = { start = "00:00", end = "00:00" }
"""
ADMIN = Actor.of(ActorKind.CLINICIAN, 1)
TARGETS = {"preview": 0.2, "save": 2.0, "reach": 5.0}  # seconds


def with_first_offset(clinic: ClinicConfig, hours: int) -> ClinicConfig:
    standard = clinic.protocols["standard"]
    offsets = [timedelta(hours=hours), *standard.offsets[1:]]
    changed = standard.model_copy(
        update={"offsets": offsets, "red_flags_at": timedelta(hours=hours)}
    )
    return clinic.model_copy(update={"protocols": {**clinic.protocols, "standard": changed}})


async def populate(db: Database, clinic: ClinicConfig, patients: int) -> None:
    ended = datetime.now(UTC) - timedelta(hours=1)
    for start in range(0, patients, 100):
        async with db.transaction() as session:
            for pid in range(start, min(start + 100, patients)):
                patient = Patient(
                    clinic_id=clinic.id,
                    ref=f"P-{pid:05d}",
                    timezone="UTC",
                    status=PatientStatus.ACTIVE,
                    chat_id=60_000_000 + pid,
                    created_at=ended,
                )
                session.add(patient)
                await session.flush()
                await record_infusion(
                    session,
                    patient=patient,
                    clinic=clinic,
                    ended_at=ended,
                    protocol=None,
                    now=ended,
                    actor="bench",
                )


async def run(args: argparse.Namespace) -> int:
    load_before = os.getloadavg()
    previews: list[float] = []
    saves: list[tuple[float, int]] = []
    reaches: list[float] = []
    async with database_url(args.database_url) as url, BotApiSandbox() as sandbox:
        clinics = parse_clinics(CLINIC_TOML, source="bench")
        saver = await bot.app.prepare(
            make_settings(sandbox, url, dispatch_interval_seconds=1.0),
            clinics=clinics,
            db=open_database(url),
        )
        other = await bot.app.prepare(
            make_settings(sandbox, url, dispatch_interval_seconds=1.0),  # settings watch: 2 s
            clinics=clinics,
            db=open_database(url),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(bot.app.serve(other, stop))
        try:
            await sandbox.wait_for_call("deleteWebhook", timeout=10)
            started = time.monotonic()
            await populate(saver.db, saver.clinic("north"), args.patients)
            await ds.analyze(saver.db.engine)  # PostgreSQL: statistics, as autovacuum would
            print(
                f"data: {args.patients:,} patients with an infusion an hour ago, "
                f"{time.monotonic() - started:.1f}s",
                flush=True,
            )
            hours = 6
            for _ in range(args.saves):
                current = saver.clinic("north")
                edited = with_first_offset(current, hours)
                for _ in range(args.previews):
                    began = time.perf_counter()
                    async with saver.db.transaction() as session:
                        preview = await clinic_settings.preview(
                            session,
                            before=current,
                            after=edited,
                            protocol="standard",
                            infusion_at=saver.clock.now(),
                        )
                    previews.append(time.perf_counter() - began)
                if preview.patients_replanned != args.patients:
                    raise BenchError(f"preview counted {preview.patients_replanned} patients")
                began = time.perf_counter()
                async with saver.db.transaction() as session:
                    saved = await clinic_settings.save(
                        session,
                        clinic=edited,
                        based_on=saver.settings_versions["north"],
                        actor=ADMIN,
                        now=saver.clock.now(),
                    )
                committed = time.perf_counter()
                saves.append((committed - began, saved.replanned))
                saver.use_clinic(saved.clinic, saved.version)
                while other.settings_versions.get("north") != saved.version:
                    if time.perf_counter() - committed > 30:
                        raise BenchError("the second instance never took the new version")
                    await asyncio.sleep(0.01)
                reaches.append(time.perf_counter() - committed)
                print(f"  saved version {saved.version}: done", flush=True)
                hours = 4 if hours == 6 else 6
            dialect = saver.db.dialect
        finally:
            stop.set()
            with suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=15)
            await other.db.dispose()
            await saver.db.dispose()

    load = f"load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after (1 min)"
    print(
        f"\nbackend:  {dialect}; python {platform.python_version()}, {os.cpu_count()} cpu, {load}"
    )
    print(f"clinic:   {args.patients:,} active patients, each 2 offset + 7 daily check-ins unsent")
    ms = sorted(p * 1000 for p in previews)
    print(
        f"preview:  n={len(ms)} p50 {percentile(ms, 50):.1f} ms, p99 {percentile(ms, 99):.1f} ms, "
        f"max {max(ms):.1f} ms  (target < 200 ms: "
        f"{'met' if max(previews) < TARGETS['preview'] else 'NOT met'})"
    )
    for seconds, replanned in saves:
        print(f"save:     {seconds:.2f} s, {replanned:,} patients re-planned")
    worst = max(s for s, _ in saves)
    print(
        f"          worst {worst:.2f} s (target < 2 s: "
        f"{'met' if worst < TARGETS['save'] else 'NOT met'})"
    )
    print(
        "reach:    second instance used the new version after "
        + ", ".join(f"{r:.2f}" for r in reaches)
        + f" s (poll every 2 s; target < 5 s: "
        f"{'met' if max(reaches) < TARGETS['reach'] else 'NOT met'})"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.settings_change", description=__doc__)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--saves", type=int, default=3, help="schedule changes saved (3)")
    parser.add_argument("--previews", type=int, default=20, help="previews before each save")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args(argv)
    if args.patients < 1 or args.saves < 1 or args.previews < 1:
        parser.error("--patients, --saves and --previews must be >= 1")
    try:
        return asyncio.run(run(args))
    except (BenchError, OSError, asyncpg.PostgresError) as exc:
        print(f"settings_change: run broke: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
