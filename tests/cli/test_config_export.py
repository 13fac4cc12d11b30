"""`aftercare config export`: a clinic's current settings (the console's newest version for a
console-managed clinic) written back as a clinic file that loads to the same settings."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from bot.clinic_config import parse_clinics
from bot.services.clinic.settings import effective_clinics, save
from storage.crypto.keyring import open_database
from storage.states import Actor, ActorKind
from tests.auxil.cli import MINIMAL_CLINIC, aftercare

REPO = Path(__file__).resolve().parents[2]


async def _rename_in_console(tmp_path: Path, name: str) -> None:
    db = open_database(f"sqlite+aiosqlite:///{tmp_path}/a.db")
    try:
        file = parse_clinics((tmp_path / "clinic.toml").read_text(), source="clinic.toml")
        now = datetime.now(UTC)
        async with db.transaction() as session:
            effective, _ = await effective_clinics(session, file=file, now=now)
            north = effective.clinics.clinic("north")
            await save(
                session,
                clinic=north.model_copy(update={"name": name}),
                based_on=effective.versions["north"],
                actor=Actor.of(ActorKind.CLINICIAN, 1),
                now=now,
            )
    finally:
        await db.dispose()


def test_export_writes_the_newest_settings_as_a_loadable_clinic_file(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC + 'managed_by = "console"\n')
    first = aftercare(tmp_path, "config", "export", "--clinic", "north")
    assert first.returncode == 0, first.stderr
    exported = parse_clinics(first.stdout, source="export").clinic("north")
    assert exported == parse_clinics(
        MINIMAL_CLINIC + 'managed_by = "console"\n', source="f"
    ).clinic("north")

    asyncio.run(_rename_in_console(tmp_path, "North, renamed in the console"))
    out = tmp_path / "north.toml"
    second = aftercare(tmp_path, "config", "export", "--clinic", "north", "--out", str(out))
    assert second.returncode == 0, second.stderr
    assert "settings version 2" in second.stderr
    again = parse_clinics(out.read_text(), source="export").clinic("north")
    assert again.name == "North, renamed in the console"
    assert again.managed_by == "console"
    check = aftercare(tmp_path, "config", "check", str(out))
    assert check.returncode == 0, check.stderr

    refused = aftercare(tmp_path, "config", "export", "--clinic", "north", "--out", str(out))
    assert refused.returncode == 2
    assert "exists; add --force" in refused.stderr
    unknown = aftercare(tmp_path, "config", "export", "--clinic", "south")
    assert unknown.returncode == 2
    assert "no clinic 'south' (known: north)" in unknown.stderr


def test_the_example_clinic_file_exports_to_the_same_settings(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text((REPO / "clinic.example.toml").read_text())
    result = aftercare(tmp_path, "config", "export", "--clinic", "north")
    assert result.returncode == 0, result.stderr
    example = parse_clinics((REPO / "clinic.example.toml").read_text(), source="e")
    assert parse_clinics(result.stdout, source="export").clinic("north") == example.clinic("north")
