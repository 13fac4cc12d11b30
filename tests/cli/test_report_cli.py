"""`aftercare report`: one CSV per table in --out with its row count printed, the figures of
the month asked (in the clinic's zone), existing files refused unless --force, a bad month or
an unknown clinic refused with one line and exit code 2."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage.crypto.keyring import open_database
from storage.models import Checkin, Patient
from storage.states import CheckinKind, CheckinStatus, PatientStatus
from tests.auxil.cli import MINIMAL_CLINIC, aftercare, cli_env

# London: May 2026 runs from 30 Apr 23:00 UTC (BST) to 31 May 23:00 UTC
MAY_START = datetime(2026, 4, 30, 23, 0, tzinfo=UTC)
TABLES = ("checkins", "checkins_by_week", "cases", "response_times", "mood_series",
          "without_safety_plan")  # fmt: skip


async def _checkins(url: str) -> None:
    """Two +4 h check-ins sent in May (one answered), one sent a minute before May began."""
    db = open_database(url)
    try:
        async with db.transaction() as session:
            patient = Patient(clinic_id="north", ref="P-7", timezone="UTC",
                              status=PatientStatus.ACTIVE, created_at=MAY_START)  # fmt: skip
            session.add(patient)
            await session.flush()
            for sent, status in (
                (MAY_START, CheckinStatus.COMPLETED),
                (MAY_START + timedelta(days=9), CheckinStatus.SENT),
                (MAY_START - timedelta(minutes=1), CheckinStatus.COMPLETED),
            ):
                session.add(Checkin(patient_id=patient.id or 0, kind=CheckinKind.OFFSET,
                                    offset_seconds=4 * 3600, nominal_at=sent, due_at=sent,
                                    sent_at=sent, status=status, created_at=sent))  # fmt: skip
    finally:
        await db.dispose()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def test_report_writes_a_csv_per_table_and_refuses_bad_input(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    assert aftercare(tmp_path, "db", "upgrade").returncode == 0
    first = aftercare(tmp_path, "report", "--clinic", "north", "--out", "empty")
    assert first.returncode == 0, first.stderr  # the last complete month; the clinic row made
    asyncio.run(_checkins(cli_env(tmp_path)["AFTERCARE_DATABASE_URL"]))
    out = tmp_path / "may"
    args = ("report", "--clinic", "north", "--month", "2026-05", "--out", str(out))
    done = aftercare(tmp_path, *args)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.csv" for t in TABLES)
    assert f"{out / 'checkins.csv'}: 3 rows" in done.stdout  # +4h, +24h, daily
    assert f"{out / 'checkins_by_week.csv'}: 15 rows" in done.stdout  # 5 ISO weeks × 3 slots
    assert f"{out / 'cases.csv'}: 3 rows" in done.stdout
    four = {r["slot"]: r for r in _rows(out / "checkins.csv")}["+4h"]
    assert (four["month"], four["sent"], four["answered"], four["response_rate"]) == (
        "2026-05", "2", "1", "0.500",
    )  # fmt: skip
    weeks = [r for r in _rows(out / "checkins_by_week.csv") if r["slot"] == "+4h"]
    assert [(w["week"], w["first_day"], w["sent"]) for w in weeks][:2] == [
        ("2026-W18", "2026-05-01", "1"),  # Friday 1 May: ISO week 18, clipped to the month
        ("2026-W19", "2026-05-04", "1"),  # 9 May 23:00 UTC is Sunday 10 May in London
    ]
    again = aftercare(tmp_path, *args)
    assert again.returncode == 1
    assert "already exists; use --force to overwrite" in again.stderr
    assert aftercare(tmp_path, *args, "--force").returncode == 0
    bad = aftercare(tmp_path, "report", "--clinic", "north", "--month", "May", "--out", "x")
    assert bad.returncode == 2 and "--month:" in bad.stderr and "YYYY-MM" in bad.stderr
    future = aftercare(tmp_path, "report", "--clinic", "north", "--month", "2999-01", "--out", "x")
    assert future.returncode == 2 and "has not begun" in future.stderr
    unknown = aftercare(tmp_path, "report", "--clinic", "nowhere", "--out", "x")
    assert unknown.returncode == 2 and "no clinic 'nowhere'" in unknown.stderr
    assert not (tmp_path / "x").exists()
