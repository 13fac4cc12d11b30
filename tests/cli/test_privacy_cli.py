"""`aftercare patient erase` and `aftercare patient hold` (issue 31): the reference typed to
confirm, refusals with nothing changed (a legal hold, an unknown patient, a wrong
confirmation), the erasure's counts, and the patient told in their chat, over the sandbox,
that nothing more is sent — or the operator told plainly that they were not."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from pathlib import Path

from sandbox import BotApiSandbox
from tests.auxil.cli import AFTERCARE, MINIMAL_CLINIC, aftercare, cli_env, patient_fields

ERASE = ("patient", "erase", "--clinic", "north", "--reason", "patient_request", "--ref")


def _sql(tmp_path: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "a.db") as db:
        return list(db.execute(sql, args).fetchall())


def _enrolled(tmp_path: Path, ref: str, phone: str) -> None:
    done = aftercare(
        tmp_path, "patient", "enroll", "--clinic", "north", "--ref", ref, "--phone", phone
    )
    assert done.returncode == 0, done.stderr


async def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`aftercare` without blocking the loop (the sandbox answers in this process)."""
    process = await asyncio.create_subprocess_exec(
        str(AFTERCARE),
        *args,
        cwd=tmp_path,
        env=cli_env(tmp_path, **env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return subprocess.CompletedProcess(args, process.returncode or 0, out.decode(), err.decode())


def test_hold_and_refusals_change_nothing(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    _enrolled(tmp_path, "P-1", "+44 7700 900123")
    held = aftercare(tmp_path, "patient", "hold", "--clinic", "north", "--ref", "P-1")
    assert held.returncode == 0 and "legal hold placed" in held.stdout, held.stderr
    refused = aftercare(tmp_path, *ERASE, "P-1", "--yes")
    assert refused.returncode == 1 and "legal hold" in refused.stderr
    unknown = aftercare(tmp_path, *ERASE, "P-9", "--yes")
    assert unknown.returncode == 1 and "No patient P-9" in unknown.stderr
    lifted = aftercare(tmp_path, "patient", "hold", "--clinic", "north", "--ref", "P-1", "--lift")
    assert lifted.returncode == 0 and "legal hold lifted" in lifted.stdout
    mistyped = subprocess.run(
        [str(AFTERCARE), *ERASE, "P-1"],
        cwd=tmp_path,
        env=cli_env(tmp_path),
        input="P-2\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert mistyped.returncode == 1 and "nothing was erased" in mistyped.stderr
    bad_reason = aftercare(
        tmp_path,
        "patient",
        "erase",
        "--clinic",
        "north",
        "--ref",
        "P-1",
        "--reason",
        "because",
        "--yes",
    )
    assert bad_reason.returncode == 2 and "Traceback" not in bad_reason.stderr
    assert patient_fields(tmp_path, "status", "phone") == [("invited", "+44 7700 900123")]
    events = [e for (e,) in _sql(tmp_path, "SELECT event FROM audit_event")]
    assert "patient.erased" not in events and "patient.legal_hold" in events


async def test_erase_tells_the_patient_over_the_sandbox(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    await asyncio.to_thread(_enrolled, tmp_path, "P-1", "+44 7700 900123")
    await asyncio.to_thread(_enrolled, tmp_path, "P-2", "+44 7700 900456")
    _sql(tmp_path, "UPDATE patient SET chat_id = 801, status = 'active' WHERE ref = 'P-1'")
    async with BotApiSandbox() as sandbox:
        sandbox.add_user(801, "Marisol")
        telegram = {
            "AFTERCARE_TELEGRAM_TOKEN": "123:abc",
            "AFTERCARE_TELEGRAM_API_URL": sandbox.url,
        }
        done = await _run(tmp_path, *ERASE, "P-1", "--yes", **telegram)
        assert done.returncode == 0, done.stderr
        assert "patient P-1 erased (patient_request)" in done.stdout
        assert "told in the chat that nothing more is sent" in done.stdout
        assert "their data key: destroyed" in done.stdout
        (notice,) = [m["text"] for m in sandbox.chat(801)]
        assert "has erased what you wrote here" in notice and "nobody reads this chat" in notice
        assert "Call or text 988" in notice  # the crisis card goes with the last message
        untold = await _run(tmp_path, *ERASE, "P-2", "--yes")  # never linked a chat
        assert untold.returncode == 0 and "nobody to tell" in untold.stdout
    rows = _sql(tmp_path, "SELECT ref, status, phone, chat_id FROM patient ORDER BY ref")
    assert rows == [("P-1", "erased", None, None), ("P-2", "erased", None, None)]
