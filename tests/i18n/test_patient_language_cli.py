"""`aftercare patient language`: the clinic sets a patient's language (audited) or puts them
back on the clinic's default; a language the check-in is not offered in is refused (exit 2),
naming what is missing, and nothing changes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.auxil.cli import MINIMAL_CLINIC, aftercare

LANGUAGE = ("patient", "language", "--clinic", "north", "--ref", "P-1", "--language")


def _rows(tmp_path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "a.db") as db:
        return list(db.execute(sql).fetchall())


def test_the_clinic_sets_and_clears_a_patients_language(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    enrolled = aftercare(tmp_path, "patient", "enroll", "--clinic", "north", "--ref", "P-1")
    assert enrolled.returncode == 0, enrolled.stderr

    refused = aftercare(tmp_path, *LANGUAGE, "fr")
    assert refused.returncode == 2
    assert "French (fr) is not offered" in refused.stderr + refused.stdout
    assert _rows(tmp_path, "SELECT language FROM patient") == [(None,)]

    done = aftercare(tmp_path, *LANGUAGE, "EN")
    assert done.returncode == 0, done.stderr
    assert "language en" in done.stdout
    assert _rows(tmp_path, "SELECT language FROM patient") == [("en",)]
    back = aftercare(tmp_path, *LANGUAGE, "default")
    assert back.returncode == 0, back.stderr
    assert _rows(tmp_path, "SELECT language FROM patient") == [(None,)]
    events = _rows(tmp_path, "SELECT actor FROM audit_event WHERE event = 'patient.language'")
    assert events == [("cli",), ("cli",)]
