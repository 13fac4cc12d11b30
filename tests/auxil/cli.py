"""Running the `aftercare` command in a clean environment, shared by the CLI tests."""

from __future__ import annotations

import os
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
