"""Run the test process (and the commands it starts) as if the wall clock read a given instant.

`pytest --wall-clock=2026-12-06T02:40` travels the whole process there at session start with
time-machine, ticking on from there: `datetime.now()`, `time.time()` and their kin move, while
`time.monotonic()` (asyncio's clock) is left alone. A naive instant is UTC; one ending in
`@Zone` is that zone's wall time (`2026-12-06T02:40@America/New_York`), and a bare `HH:MM`
is that time on today's UTC date. `AFTERCARE_TEST_WALL_CLOCK` does the same as the option.

The offset from the real clock is put in `TEST_WALL_CLOCK_OFFSET` and `sitecustomize/` is put
first on `PYTHONPATH`, so a subprocess started with this environment (the `aftercare` commands
of the CLI tests) starts at the same travelled time.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.clock import OffsetClock

SPEC_ENV = "AFTERCARE_TEST_WALL_CLOCK"
OFFSET_ENV = "TEST_WALL_CLOCK_OFFSET"
SITE_DIR = Path(__file__).resolve().parent / "sitecustomize"

# The hours the suite must pass at, in UTC and in the test clinics' zone (harness.py).
CLINIC_ZONE = "America/New_York"
HOURS = ("00:00", "02:40", "12:00", "23:59")
INSTANTS = tuple(f"2026-12-06T{hm}" for hm in HOURS) + tuple(
    f"2026-12-06T{hm}@{CLINIC_ZONE}" for hm in HOURS
)


def parse(spec: str, today: date | None = None) -> datetime:
    """The aware UTC instant a `--wall-clock` value names."""
    text, _, zone = spec.strip().partition("@")
    if len(text) <= 5:  # "HH:MM"
        day = today or datetime.now(UTC).date()
        text = f"{day.isoformat()}T{text}"
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(zone) if zone else UTC)
    return when.astimezone(UTC)


def travel(spec: str) -> None:
    """Start travelling this process to `spec`, ticking on from there."""
    import time_machine

    if getattr(sys.modules.get("sitecustomize"), "TRAVELLER", None) is not None:
        return  # travelled as it started, by sitecustomize/: a command of a travelled run
    target = parse(spec).timestamp()
    _travel["offset"] = target - time.time()
    time_machine.travel(target, tick=True).start()


def export_to_subprocesses() -> None:
    """Have the Python subprocesses started from now on (with this environment) start at this
    process's travelled time. Not for xdist's workers, which travel on their own: importing
    time-machine before pytest makes pytest warn that it cannot rewrite that plugin."""
    if "offset" in _travel:
        os.environ[OFFSET_ENV] = repr(_travel["offset"])
        paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        os.environ["PYTHONPATH"] = os.pathsep.join([str(SITE_DIR), *paths])


_travel: dict[str, float] = {}


def clock_at(hhmm: str, zone: str = "UTC") -> OffsetClock:
    """An injected clock that reads `hhmm` in `zone` (on today's date there) now, ticking on.

    For a test whose plan depends on the time of day (quiet hours, the day's check-ins): it
    plans the same way whatever hour the wall clock shows."""
    now = datetime.now(UTC)
    hour, minute = (int(part) for part in hhmm.split(":"))
    there = now.astimezone(ZoneInfo(zone))
    there = there.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return OffsetClock(there.astimezone(UTC) - now)


def subprocess_env(clock: OffsetClock) -> dict[str, str]:
    """Environment entries that start a Python subprocess on `clock`'s time, ticking on
    (added to this process's own travel, if any): for a command that plans from "now"."""
    offset = float(os.environ.get(OFFSET_ENV, "0")) + clock.offset.total_seconds()
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    paths = [str(SITE_DIR), *(p for p in paths if Path(p) != SITE_DIR)]
    return {OFFSET_ENV: repr(offset), "PYTHONPATH": os.pathsep.join(paths)}
