"""Running the `aftercare` command in a clean environment, shared by the CLI tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

MINIMAL_CLINIC = """\
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "Europe/London"
contact_phone = "+44 1"
"""


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env["AFTERCARE_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/a.db"
    env["AFTERCARE_CONFIG"] = str(tmp_path / "clinic.toml")
    env["AFTERCARE_BOT_USERNAME"] = "aftercare_test_bot"
    env.update(extra)
    return env


AFTERCARE = Path(sys.executable).parent / "aftercare"


def aftercare(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run the `aftercare` command in `tmp_path` with a clean environment (`cli_env`)."""
    return subprocess.run(
        [str(AFTERCARE), *args],
        cwd=tmp_path,
        env=cli_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def run_group(
    module: str, *args: str, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run one command group on its own (`python -m bot.cli.db ...`) without blocking the loop,
    so tasks of the test (writers, say) keep running meanwhile."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return subprocess.CompletedProcess(
        [module, *args], process.returncode, out.decode(), err.decode()
    )
