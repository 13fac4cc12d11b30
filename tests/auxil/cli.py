"""Running the `aftercare` command in a clean environment, shared by the CLI tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tests.auxil.databases import TEST_DATA_KEY

MINIMAL_CLINIC = """\
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "Europe/London"
contact_phone = "+44 1"
"""


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env["AFTERCARE_DATA_KEY"] = TEST_DATA_KEY
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


def patient_fields(tmp_path: Path, *fields: str) -> list[tuple[object, ...]]:
    """The patients' `fields` (by reference) as the application reads them: sealed columns
    opened with the key the commands ran with (the raw file holds them sealed)."""
    from sqlalchemy import select

    from storage.crypto.keyring import open_database
    from storage.models import Patient

    async def read() -> list[tuple[object, ...]]:
        db = open_database(cli_env(tmp_path)["AFTERCARE_DATABASE_URL"])
        try:
            async with db.transaction() as session:
                rows = await session.scalars(select(Patient).order_by(Patient.ref))  # type: ignore[arg-type]
                return [tuple(getattr(p, f) for f in fields) for p in rows]
        finally:
            await db.dispose()

    return asyncio.run(read())
