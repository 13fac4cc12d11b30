"""`aftercare patient enroll` with the patient's phone and emergency contact: stored as entered
and as E.164 (sealed in the file), audited without the values; a number that cannot be dialled
is refused (exit 2) and nothing is enrolled."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.auxil.cli import MINIMAL_CLINIC, aftercare, patient_fields

ENROLL = ("patient", "enroll", "--clinic", "north", "--ref")


def _rows(tmp_path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "a.db") as db:
        return list(db.execute(sql).fetchall())


def test_enrollment_takes_phone_and_emergency_contact(tmp_path: Path) -> None:
    clinic = MINIMAL_CLINIC + 'phone_country_code = "+44"\n'
    (tmp_path / "clinic.toml").write_text(clinic, encoding="utf-8")
    done = aftercare(
        tmp_path,
        *ENROLL,
        "P-1",
        "--phone",
        "07700 900123",
        "--emergency-name",
        "Sam Doe",
        "--emergency-relation",
        "sister",
        "--emergency-phone",
        "+44 (0)20 7946 0000",
    )
    assert done.returncode == 0, done.stderr
    fields = (
        "phone",
        "phone_e164",
        "emergency_name",
        "emergency_relation",
        "emergency_phone",
        "emergency_phone_e164",
    )
    raw = _rows(tmp_path, f"SELECT {', '.join(fields)} FROM patient")  # sealed in the file
    assert all(str(value).startswith("ac1:") for value in raw[0]), raw
    assert patient_fields(tmp_path, *fields) == [
        (
            "07700 900123",
            "+447700900123",
            "Sam Doe",
            "sister",
            "+44 (0)20 7946 0000",
            "+442079460000",
        )
    ]
    ((detail,),) = _rows(
        tmp_path, "SELECT detail FROM audit_event WHERE event = 'patient.contact_changed'"
    )
    assert json.loads(str(detail))["changed"] == [
        "phone",
        "emergency_name",
        "emergency_relation",
        "emergency_phone",
    ]
    assert "7946" not in str(detail) and "Sam" not in str(detail)

    refused = aftercare(tmp_path, *ENROLL, "P-2", "--phone", "call me", "--emergency-phone", "1")
    assert refused.returncode == 2
    assert "--phone: Use digits" in refused.stderr and "--emergency-phone:" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _rows(tmp_path, "SELECT ref FROM patient") == [("P-1",)]
