"""`aftercare export csv`: the files in --out, row counts printed, existing files refused
unless --force, a bad --since or clinic refused with one line, every export audited."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from storage.crypto.keyring import open_database
from storage.models import AuditEvent, Checkin, Patient
from storage.states import CheckinKind, CheckinStatus, PatientStatus
from tests.auxil.cli import MINIMAL_CLINIC, aftercare, cli_env

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


async def _patient_with_checkins(url: str) -> None:
    db = open_database(url)
    try:
        async with db.transaction() as session:
            patient = Patient(
                clinic_id="north",
                ref="P-7",
                timezone="UTC",
                status=PatientStatus.ACTIVE,
                display_name="Pat Seven",
                created_at=T0,
            )
            session.add(patient)
            await session.flush()
            for day in (0, 3):
                session.add(
                    Checkin(
                        patient_id=patient.id or 0,
                        kind=CheckinKind.DAILY,
                        day=day,
                        nominal_at=T0.replace(day=1 + day),
                        due_at=T0.replace(day=1 + day),
                        status=CheckinStatus.MISSED,
                        created_at=T0,
                    )
                )
    finally:
        await db.dispose()


async def _exports(url: str) -> list[dict[str, object]]:
    db = open_database(url)
    try:
        async with db.transaction() as session:
            rows = await session.scalars(
                select(AuditEvent).where(AuditEvent.event == "export.csv").order_by("id")
            )
            return [{"actor": e.actor, **json.loads(e.detail)} for e in rows.all()]
    finally:
        await db.dispose()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def test_export_writes_the_files_and_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    assert aftercare(tmp_path, "db", "upgrade").returncode == 0
    url = cli_env(tmp_path)["AFTERCARE_DATABASE_URL"]
    # The clinic row exists once the bot's context has loaded the clinic file.
    first = aftercare(tmp_path, "export", "csv", "--clinic", "north", "--out", "empty")
    assert first.returncode == 0, first.stderr
    asyncio.run(_patient_with_checkins(url))
    out = tmp_path / "deep" / "out"
    done = aftercare(
        tmp_path, "export", "csv", "--clinic", "north", "--out", str(out), "--since", "2026-05-02"
    )
    assert done.returncode == 0, done.stderr
    assert f"{out / 'patients.csv'}: 1 rows" in done.stdout
    assert f"{out / 'checkins.csv'}: 1 rows" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "cases.csv",
        "checkins.csv",
        "infusions.csv",
        "messages.csv",
        "patients.csv",
        "safety_plans.csv",
    ]
    (patient,) = _rows(out / "patients.csv")
    assert patient["patient_ref"] == "P-7" and "display_name" not in patient
    (checkin,) = _rows(out / "checkins.csv")
    assert (checkin["day"], checkin["status"], checkin["mood"]) == ("3", "missed", "")
    assert _rows(out / "cases.csv") == []
    # A second export into the same directory is refused and changes nothing.
    before = (out / "patients.csv").read_bytes()
    again = aftercare(tmp_path, "export", "csv", "--clinic", "north", "--out", str(out))
    assert again.returncode == 1
    assert again.stderr.strip() == (
        f"aftercare: error: {out / 'patients.csv'} already exists; use --force to overwrite"
    )
    assert (out / "patients.csv").read_bytes() == before
    forced = aftercare(
        tmp_path, "export", "csv", "--clinic", "north", "--out", str(out), "--force", "--free-text"
    )
    assert forced.returncode == 0, forced.stderr
    assert f"{out / 'checkins.csv'}: 2 rows" in forced.stdout
    assert _rows(out / "patients.csv")[0]["display_name"] == "Pat Seven"
    assert [e["actor"] for e in asyncio.run(_exports(url))] == ["cli", "cli", "cli"]
    assert asyncio.run(_exports(url))[1] == {
        "actor": "cli",
        "since": "2026-05-01T23:00:00Z",  # midnight in London (BST)
        "free_text": False,
        "one_patient": False,
        "rows": {
            "patients.csv": 1,
            "infusions.csv": 0,
            "checkins.csv": 1,
            "cases.csv": 0,
            "messages.csv": 0,
            "safety_plans.csv": 0,
        },
        "via": "cli",
    }


def test_a_bad_since_or_clinic_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    bad = aftercare(tmp_path, "export", "csv", "--clinic", "north", "--out", "x", "--since", "soon")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("aftercare: error: --since: Not a date")
    unknown = aftercare(tmp_path, "export", "csv", "--clinic", "west", "--out", "x")
    assert unknown.returncode == 2
    assert "no clinic 'west' (known: north)" in unknown.stderr
    assert not (tmp_path / "x").exists()


async def _another_patient(url: str) -> None:
    db = open_database(url)
    try:
        async with db.transaction() as session:
            session.add(
                Patient(
                    clinic_id="north",
                    ref="P-8",
                    timezone="UTC",
                    status=PatientStatus.ACTIVE,
                    display_name="Pat Eight",
                    created_at=T0,
                )
            )
    finally:
        await db.dispose()


def test_export_of_one_patient_and_an_unknown_one_refused(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    assert aftercare(tmp_path, "db", "upgrade").returncode == 0
    url = cli_env(tmp_path)["AFTERCARE_DATABASE_URL"]
    assert aftercare(tmp_path, "export", "csv", "--clinic", "north", "--out", "e").returncode == 0
    asyncio.run(_patient_with_checkins(url))
    asyncio.run(_another_patient(url))
    out = tmp_path / "one"
    args = ("export", "csv", "--clinic", "north", "--free-text")
    done = aftercare(tmp_path, *args, "--out", str(out), "--patient", "P-8")
    assert done.returncode == 0, done.stderr
    assert f"{out / 'patients.csv'}: 1 rows" in done.stdout
    assert f"{out / 'checkins.csv'}: 0 rows" in done.stdout
    (patient,) = _rows(out / "patients.csv")
    assert (patient["patient_ref"], patient["display_name"]) == ("P-8", "Pat Eight")
    seven = aftercare(tmp_path, *args, "--out", str(tmp_path / "seven"), "--patient", "P-7")
    assert seven.returncode == 0, seven.stderr
    assert {r["patient_ref"] for r in _rows(tmp_path / "seven" / "checkins.csv")} == {"P-7"}
    unknown = aftercare(tmp_path, *args, "--out", str(tmp_path / "x"), "--patient", "NOPE")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines()[-1] == (
        "aftercare: error: --patient: no patient 'NOPE' in clinic 'north'"
    )
    assert not (tmp_path / "x").exists()
    exports = asyncio.run(_exports(url))
    assert [e["one_patient"] for e in exports] == [False, True, True]
    assert all("P-8" not in json.dumps(e) for e in exports)
