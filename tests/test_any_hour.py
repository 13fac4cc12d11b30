"""The tests that plan check-ins pass whatever the wall clock reads: each instant of
`wall_clock.INSTANTS` (00:00, 02:40, 12:00 and 23:59, in UTC and in the test clinics' zone)
runs them again in a pytest of its own, travelled there with `--wall-clock`.

The whole suite can be run the same way: `pytest --wall-clock=2026-12-06T02:40`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.auxil import wall_clock

ROOT = Path(__file__).resolve().parents[1]

# The tests that plan from "now" (quiet hours, the day's check-ins, "tomorrow", "in the future"),
# on SQLite: the planner is the same on both backends.
PLANNERS = (
    "tests/domain/test_schedule.py",
    "tests/services/test_infusions.py",
    # failed at 02:40-02:55 UTC before its bot had a clock of its own (wall_clock.clock_at)
    "tests/console/test_infusion_routes.py::test_record_move_and_cancel_plan_as_the_cli_does",
)


def _env() -> dict[str, str]:
    """This environment without an outer `--wall-clock` run's travel, nor xdist's variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (wall_clock.OFFSET_ENV, wall_clock.SPEC_ENV)
        and not k.startswith("PYTEST_XDIST")
    }
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    paths = [p for p in paths if Path(p) != wall_clock.SITE_DIR]
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    else:
        env.pop("PYTHONPATH", None)
    return env


@pytest.mark.slow
@pytest.mark.parametrize("instant", wall_clock.INSTANTS)
def test_planners_pass_at(instant: str, tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        "-m",
        "not postgres",
        f"--basetemp={tmp_path / 'pytest'}",
        f"--wall-clock={instant}",
        *PLANNERS,
    ]
    result = subprocess.run(
        command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert f"wall clock: {instant} = {wall_clock.parse(instant).isoformat()}" in result.stdout
