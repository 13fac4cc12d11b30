"""End-to-end tests of the real `aftercare` console script, run as a subprocess."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.auxil.cli import MINIMAL_CLINIC, cli_env
from tests.auxil.wall_clock import clock_at, subprocess_env

AFTERCARE = Path(sys.executable).parent / "aftercare"
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "clinic.example.toml"
TOKEN_RE = re.compile(r"^token: ([A-Za-z0-9_-]{22})$", re.MULTILINE)

MALFORMED_CLINIC = """\
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "Europe/London"
contact_phone = "+44 1"

[clinics.protocols.standard]
offsets = ["4 hours"]
"""

UNREACHABLE_DB = "postgresql+asyncpg://postgres@127.0.0.1:1/x"


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(AFTERCARE), *args],
            cwd=tmp_path,
            env=cli_env(tmp_path, **extra),
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aftercare: error:"), lines[0]
    return lines[0]


def _error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line of a command that also logs (e.g. migrations) to stderr."""
    assert "Traceback" not in result.stderr, result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("aftercare: error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def _iso(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat()


def test_help_lists_commands(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("--help")
    assert result.returncode == 0, result.stderr
    for name in ("run", "db", "config", "clinician", "patient", "infusion"):
        assert re.search(rf"\b{name}\b", result.stdout), name
    for args in (
        ["run"],
        ["db", "upgrade"],
        ["config", "check"],
        ["clinician", "invite"],
        ["patient", "enroll"],
        ["infusion", "record"],
    ):
        sub = cli(*args, "--help")
        assert sub.returncode == 0, (args, sub.stderr)
        assert "Usage" in sub.stdout, args


def test_config_check_example_prints_plan(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("config", "check", str(EXAMPLE), "--at", "2026-11-23T14:00:00+00:00")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "OK, 1 clinic(s)" in out
    assert "4-hour check-in" in out
    assert "24-hour check-in" in out
    assert "day 3 daily check-in" in out
    # 14:00 UTC is 09:00 in New York; +4 h is 13:00 local.
    assert "Mon 23 Nov 13:00:00 EST  4-hour check-in" in out


def test_config_check_malformed_file(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text(MALFORMED_CLINIC, encoding="utf-8")
    result = cli("config", "check", str(bad))
    assert result.returncode == 2, result.stderr
    line = _one_error_line(result)
    assert str(bad) in line
    assert "clinics[0].protocols.standard.offsets[0]" in line


def test_patient_enroll_with_malformed_config(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text(MALFORMED_CLINIC, encoding="utf-8")
    result = cli(
        "patient", "enroll", "--clinic", "north", "--ref", "P-1", AFTERCARE_CONFIG=str(bad)
    )
    assert result.returncode == 2, result.stderr
    line = _one_error_line(result)
    assert str(bad) in line
    assert "clinics[0].protocols.standard.offsets[0]" in line


def test_db_upgrade_unreachable(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("db", "upgrade", AFTERCARE_DATABASE_URL=UNREACHABLE_DB)
    assert result.returncode == 1, result.stderr
    assert "cannot be reached" in _one_error_line(result)


def test_run_unreachable_database(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    result = cli(
        "run",
        AFTERCARE_DATABASE_URL=UNREACHABLE_DB,
        AFTERCARE_TELEGRAM_TOKEN="1:x",
        AFTERCARE_TELEGRAM_API_URL="http://127.0.0.1:1",
    )
    assert result.returncode != 0
    _one_error_line(result)


def test_run_without_token(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    result = cli("run")
    assert result.returncode == 2, result.stderr
    assert "AFTERCARE_TELEGRAM_TOKEN" in _one_error_line(result)


def test_clinic_flow(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")

    result = cli("db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "database at revision" in result.stdout

    printed_tokens: list[str] = []

    def check_invite(out: str) -> str:
        match = TOKEN_RE.search(out)
        assert match, out
        token = match.group(1)
        assert f"https://t.me/aftercare_test_bot?start={token}" in out.splitlines()
        printed_tokens.append(token)
        return token

    result = cli("clinician", "invite", "--clinic", "north", "--name", "Dr A")
    assert result.returncode == 0, result.stderr
    check_invite(result.stdout)

    enroll = ("patient", "enroll", "--clinic", "north", "--ref", "P-1")
    result = cli(*enroll, "--timezone", "Europe/London")
    assert result.returncode == 0, result.stderr
    first = check_invite(result.stdout)
    assert "P-1 (Europe/London)" in result.stdout

    result = cli(*enroll, "--timezone", "Europe/London")
    assert result.returncode == 0, result.stderr
    second = check_invite(result.stdout)
    assert second != first

    result = cli("patient", "enroll", "--clinic", "north", "--ref", "John Smith")
    assert result.returncode == 2, result.stderr
    _error_line(result)

    result = cli("patient", "enroll", "--clinic", "nowhere", "--ref", "P-2")
    assert result.returncode == 2, result.stderr
    line = _error_line(result)
    assert "nowhere" in line and "known: north" in line

    # The infusion commands plan from their own "now": they run as if it were 11:00 in London,
    # whatever the hour, so the 4-hour check-in falls outside quiet hours (22:00-08:00).
    morning = clock_at("11:00", "Europe/London")
    at_eleven = subprocess_env(morning)
    now = morning.now()
    ended = (now - timedelta(minutes=1)).replace(microsecond=0)
    result = cli("infusion", "record", "--patient", "P-1", "--at", _iso(ended), **at_eleven)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("infusion 1 for P-1 ended"), out
    lines = out.splitlines()
    four = [ln for ln in lines if re.search(r"\s4-hour check-in", ln)]
    day = [ln for ln in lines if "24-hour check-in" in ln]
    assert len(four) == 1 and len(day) == 1, out
    assert all(re.search(r"\b(GMT|BST)\b", ln) for ln in four + day), out
    assert "after quiet hours" not in four[0], out
    due = (ended + timedelta(hours=4)).astimezone(ZoneInfo("Europe/London"))
    assert four[0].strip().startswith(f"{due:%a %d %b %H:%M:%S %Z}"), out

    result = cli("infusion", "move", "1", "--at", _iso(now - timedelta(hours=2)), **at_eleven)
    assert result.returncode == 0, result.stderr
    assert "infusion 1 moved" in result.stdout

    result = cli("infusion", "cancel", "1", **at_eleven)
    assert result.returncode == 0, result.stderr
    assert "infusion 1 cancelled" in result.stdout

    result = cli("infusion", "cancel", "1", **at_eleven)
    assert result.returncode == 2, result.stderr
    assert "is cancelled" in _error_line(result)

    result = cli("infusion", "cancel", "999")
    assert result.returncode == 1, result.stderr
    assert "no infusion 999" in _error_line(result)

    result = cli("infusion", "record", "--patient", "P-1", "--at", _iso(now + timedelta(days=2)))
    assert result.returncode == 2, result.stderr
    _error_line(result)

    with sqlite3.connect(tmp_path / "a.db") as conn:
        statuses = conn.execute(
            "SELECT status FROM patient WHERE clinic_id = 'north' AND ref = 'P-1'"
        ).fetchall()
        assert statuses == [("invited",)]
        hashes = [row[0] for row in conn.execute("SELECT token_hash FROM invite")]
        assert len(hashes) == 3
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), hashes
        dump = "\n".join(conn.iterdump())
        for token in printed_tokens:
            assert token not in dump
        checkins = [
            row[0] for row in conn.execute("SELECT status FROM checkin WHERE infusion_id = 1")
        ]
        assert checkins
        assert set(checkins) == {"cancelled"}, checkins


BAD_ARGUMENTS = [
    ("nosuch",),
    ("run", "--bogus"),
    ("db", "upgrade", "extra"),
    ("config", "check", "a", "b"),
    ("config", "check", "--at", "yesterday", str(EXAMPLE)),
    ("clinician", "invite", "--clinic", "north"),
    ("patient", "enroll", "--clinic", "north", "--ref", "P-1", "--baseline-mood", "11"),
    ("patient", "enroll", "--clinic", "north", "--ref", "P-1", "--timezone", "Mars/Base"),
    ("infusion", "record"),
    ("infusion", "record", "--patient", "P-1", "--at", "soon"),
    ("infusion", "cancel", "not-a-number"),
    ("infusion", "move", "1"),
    ("oncall", "add", "--clinic", "north"),
    ("oncall", "show"),
    ("oncall", "show", "--clinic", "north", "--at", "noon"),
    ("audit", "show", "--limit", "many"),
    ("demo", "--speed", "100"),
]


@pytest.mark.parametrize("args", BAD_ARGUMENTS, ids=lambda a: " ".join(a))
def test_every_command_refuses_bad_arguments_in_one_line(
    cli, tmp_path: Path, args: tuple[str, ...]
) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC)
    result = cli(*args)
    assert result.returncode != 0
    line = _error_line(result)
    assert len(line) < 300
