"""`aftercare retention preview` and `run` (issue 31): the preview lists, per patient, what goes,
the last activity and since when it is due, then the patients a legal hold keeps; the run
removes exactly those and says what it did; the audit chain verifies afterwards. The clinic file
refuses records kept shorter than words. The command reads the wall clock, so the seeded
activity sits hundreds of days away from every boundary."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.auxil.cli import MINIMAL_CLINIC, aftercare

RETENTION = MINIMAL_CLINIC + "\n[clinics.retention]\nwords_days = 10\nrecords_days = 100\n"


def _sql(tmp_path: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "a.db") as db:
        return list(db.execute(sql, args).fetchall())


def _enrolled(tmp_path: Path, ref: str, days_ago: int) -> str:
    """Enrol `ref` and move their enrolment (their only activity) `days_ago`; that date."""
    done = aftercare(tmp_path, "patient", "enroll", "--clinic", "north", "--ref", ref)
    assert done.returncode == 0, done.stderr
    then = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days_ago)
    at = then.isoformat(sep=" ")
    (pid,) = _sql(tmp_path, "SELECT id FROM patient WHERE ref = ?", ref)[0]
    _sql(tmp_path, "UPDATE patient SET created_at = ? WHERE id = ?", at, pid)
    _sql(tmp_path, "UPDATE invite SET created_at = ? WHERE patient_id = ?", at, pid)
    return f"{then:%Y-%m-%d}"


def test_preview_then_run(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(RETENTION, encoding="utf-8")
    old = _enrolled(tmp_path, "P-OLD", 400)
    quiet = _enrolled(tmp_path, "P-QUIET", 50)
    _enrolled(tmp_path, "P-NEW", 0)
    _enrolled(tmp_path, "P-HELD", 400)
    held = aftercare(tmp_path, "patient", "hold", "--clinic", "north", "--ref", "P-HELD")
    assert held.returncode == 0, held.stderr

    preview = aftercare(tmp_path, "retention", "preview", "--clinic", "north")
    assert preview.returncode == 0, preview.stderr
    lines = preview.stdout.splitlines()
    assert lines[0] == "clinic north (words 10 days, records 100 days): 2 patient(s) to remove"
    assert lines[1].startswith(
        f"  P-OLD: free text, contacts and structured records; last activity {old}, due since "
    )
    assert lines[2].startswith(f"  P-QUIET: free text and contacts; last activity {quiet}, ")
    assert lines[3] == "kept under a legal hold: 1" and lines[4].startswith("  P-HELD: ")
    assert len(lines) == 5

    ran = aftercare(tmp_path, "retention", "run", "--clinic", "north", "--yes")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[:5] == lines  # it removed what the preview listed
    assert "words erased 1, records deleted 1" in ran.stdout
    statuses = dict(_sql(tmp_path, "SELECT ref, status FROM patient"))  # type: ignore[arg-type]
    assert statuses == {
        "P-OLD": "erased",
        "P-QUIET": "erased",
        "P-NEW": "invited",
        "P-HELD": "invited",
    }
    gone = "SELECT count(*) FROM invite JOIN patient ON patient.id = patient_id WHERE ref = ?"
    assert _sql(tmp_path, gone, "P-OLD") == [(0,)]
    again = aftercare(tmp_path, "retention", "preview")
    assert "0 patient(s) to remove" in again.stdout and "P-HELD" in again.stdout
    verified = aftercare(tmp_path, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_run_asks_and_nothing_due_says_so(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(RETENTION, encoding="utf-8")
    _enrolled(tmp_path, "P-NEW", 0)
    nothing = aftercare(tmp_path, "retention", "run")
    assert nothing.returncode == 0 and nothing.stdout.strip() == "nothing is due"


def test_records_kept_shorter_than_words_is_refused(tmp_path: Path) -> None:
    bad = MINIMAL_CLINIC + "\n[clinics.retention]\nwords_days = 60\nrecords_days = 30\n"
    (tmp_path / "clinic.toml").write_text(bad, encoding="utf-8")
    checked = aftercare(tmp_path, "config", "check", str(tmp_path / "clinic.toml"))
    assert checked.returncode != 0
    assert "clinics[0].retention: records_days (30) must be at least words_days (60)" in (
        checked.stdout + checked.stderr
    )
