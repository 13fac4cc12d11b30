"""`aftercare instrument check|install|list` and `patient enroll --language` (issue 29): a file
checked without installing, installed with its provenance (refused with the reason, exit 2),
listed with TEST ONLY; enrollment in a language without an installed C-SSRS translation
refused naming what is missing, accepted in en-XA once the test fixture is installed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.auxil.cli import MINIMAL_CLINIC, aftercare

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "instruments"
PSEUDO_FILE = FIXTURE / "cssrs_screener_slc.en-XA.toml"
ENROLL = ("patient", "enroll", "--clinic", "north", "--ref")


def _rows(tmp_path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "a.db") as db:
        return list(db.execute(sql).fetchall())


def test_check_install_and_list(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    checked = aftercare(tmp_path, "instrument", "check", str(PSEUDO_FILE))
    assert checked.returncode == 0, checked.stderr
    assert "OK" in checked.stdout and "Pseudo-locale (en-XA) — TEST ONLY" in checked.stdout
    assert "TEST FIXTURE" in checked.stdout and not (tmp_path / "a.db").exists()

    bad = tmp_path / "bad.toml"
    text = PSEUDO_FILE.read_text(encoding="utf-8")
    bad.write_text(text.replace('version = "2008-01-14"', 'version = "2011-01-01"'), "utf-8")
    refused = aftercare(tmp_path, "instrument", "check", str(bad))
    assert refused.returncode == 2 and "another version" in refused.stderr
    assert "Traceback" not in refused.stderr
    refused = aftercare(tmp_path, "instrument", "install", str(bad), "--by", "Dr Ada")
    assert refused.returncode == 2 and "refused" in refused.stderr
    assert not (tmp_path / "a.db").exists()  # refused before the database is opened

    empty = aftercare(tmp_path, "instrument", "list")
    assert empty.returncode == 0 and "no instrument translation installed" in empty.stdout

    done = aftercare(tmp_path, "instrument", "install", str(PSEUDO_FILE), "--by", "Dr Ada")
    assert done.returncode == 0, done.stderr
    assert "installed by Dr Ada" in done.stdout and "TEST ONLY" in done.stdout
    assert "licence: none: test fixture only" in done.stdout
    listed = aftercare(tmp_path, "instrument", "list")
    assert listed.returncode == 0, listed.stderr
    first = listed.stdout.splitlines()[0]
    assert first == "cssrs-screener-slc 2008-01-14 Pseudo-locale (en-XA) TEST ONLY"
    assert (
        "installed by Dr Ada at" in listed.stdout and "translated on: 2008-01-14" in listed.stdout
    )
    ((detail,),) = _rows(
        tmp_path, "SELECT detail FROM audit_event WHERE event = 'instrument.installed'"
    )
    assert json.loads(str(detail))["language"] == "en-XA" and "⟦" not in str(detail)


def test_enroll_language_needs_an_installed_translation(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    refused = aftercare(tmp_path, *ENROLL, "P-1", "--language", "es")
    assert refused.returncode == 2
    assert (
        "Spanish (es) cannot be offered: no C-SSRS translation is installed "
        "(aftercare instrument install)" in refused.stderr
    )
    refused = aftercare(tmp_path, *ENROLL, "P-1", "--language", "en-XA")
    assert refused.returncode == 2 and "Pseudo-locale (en-XA) cannot be offered" in refused.stderr
    assert _rows(tmp_path, "SELECT ref FROM patient") == []

    installed = aftercare(tmp_path, "instrument", "install", str(PSEUDO_FILE), "--by", "Dr Ada")
    assert installed.returncode == 0, installed.stderr
    done = aftercare(tmp_path, *ENROLL, "P-1", "--language", "en-XA")
    assert done.returncode == 0, done.stderr
    assert "language en-XA" in done.stdout
    english = aftercare(tmp_path, *ENROLL, "P-2")
    assert english.returncode == 0, english.stderr
    assert _rows(tmp_path, "SELECT ref, language FROM patient ORDER BY ref") == [
        ("P-1", "en-XA"),
        ("P-2", None),
    ]
