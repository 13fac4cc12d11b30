"""`aftercare keys new|rotate|encrypt` and the key's absence (issue 31), through the real command:
`run` refuses to start without AFTERCARE_DATA_KEY in one line; a malformed key is refused
saying why and showing no key; `keys encrypt` seals what an older database held in clear and,
run again, finds nothing left; `keys rotate` re-wraps under the newest key, after which the
old one can be dropped."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.crypto.keys import parse
from tests.auxil.cli import MINIMAL_CLINIC, aftercare
from tests.auxil.databases import TEST_DATA_KEY


def _error_line(result: object) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]  # type: ignore[attr-defined]
    assert len(lines) == 1, result.stderr  # type: ignore[attr-defined]
    return lines[0]


def test_run_refuses_to_start_without_the_key(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    result = aftercare(
        tmp_path,
        "run",
        AFTERCARE_DATA_KEY="",
        AFTERCARE_TELEGRAM_TOKEN="1:x",
        AFTERCARE_TELEGRAM_API_URL="http://127.0.0.1:1",
    )
    assert result.returncode == 2, result.stderr
    line = _error_line(result)
    assert "AFTERCARE_DATA_KEY is not set" in line and "aftercare keys new" in line
    assert not (tmp_path / "a.db").exists()  # refused before touching anything


def test_a_malformed_key_is_refused_without_showing_it(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    result = aftercare(tmp_path, "keys", "rotate", AFTERCARE_DATA_KEY="k1:c2VjcmV0LXNob3J0")
    assert result.returncode == 2, result.stderr
    line = _error_line(result)
    assert "AFTERCARE_DATA_KEY" in line and "not 32" in line
    assert "c2VjcmV0LXNob3J0" not in result.stderr + result.stdout


def test_keys_new_prints_a_usable_entry(tmp_path: Path) -> None:
    result = aftercare(tmp_path, "keys", "new", "--id", "k7")
    assert result.returncode == 0, result.stderr
    keys = parse(result.stdout.strip())
    assert keys.newest == "k7" and len(keys.keys["k7"]) == 32


def test_encrypt_seals_clear_rows_and_rotate_rewraps(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    assert aftercare(tmp_path, "db", "upgrade").returncode == 0
    db = tmp_path / "a.db"
    enrolled = aftercare(tmp_path, "patient", "enroll", "--clinic", "north", "--ref", "P-1")
    assert enrolled.returncode == 0, enrolled.stderr
    with sqlite3.connect(db) as raw:  # what an older version wrote: in clear
        raw.execute(
            "UPDATE patient SET phone = '+1 555 0177', emergency_contact = 'Aunt Vera 555 0133'"
        )
    result = aftercare(tmp_path, "keys", "encrypt", "--batch", "1")
    assert result.returncode == 0, result.stderr
    assert "patient.phone: 1 sealed" in result.stdout
    assert "patient.emergency_contact: 1 sealed" in result.stdout
    with sqlite3.connect(db) as checkpoint:  # the log's old frames folded in and cut off
        checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw_bytes = db.read_bytes() + (tmp_path / "a.db-wal").read_bytes()
    assert b"555 0177" not in raw_bytes and b"Aunt Vera" not in raw_bytes
    again = aftercare(tmp_path, "keys", "encrypt")
    assert "0 values sealed" in again.stdout, again.stdout

    newest = aftercare(tmp_path, "keys", "new", "--id", "k2").stdout.strip()
    rotated = aftercare(tmp_path, "keys", "rotate", AFTERCARE_DATA_KEY=f"{newest},{TEST_DATA_KEY}")
    assert rotated.returncode == 0, rotated.stderr
    assert "1 data keys re-wrapped under k2" in rotated.stdout
    new_only = aftercare(tmp_path, "keys", "encrypt", AFTERCARE_DATA_KEY=newest)
    assert new_only.returncode == 0 and "0 values sealed" in new_only.stdout, new_only.stderr
    old_only = aftercare(tmp_path, "keys", "encrypt", AFTERCARE_DATA_KEY=TEST_DATA_KEY)
    assert old_only.returncode == 2 and "'k2'" in _error_line(old_only)
