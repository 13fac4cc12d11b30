"""`aftercare audit verify --head HASH | --head-file PATH`: the deleted tail of the chain is seen.

On both backends, as a subprocess; the head file is the one `bot.ops.audit_head` writes.
"""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.cli.audit import check_head, expected_head
from bot.cli.support import CliError
from bot.ops.audit_head import publish_head
from bot.settings import Settings
from storage import audit
from storage.engine import Database
from tests.auxil.backups import NOW, fill, migrated
from tests.auxil.cli import cli_env, run_group
from tests.auxil.databases import standalone


async def _verify(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(tmp_path, AFTERCARE_DATABASE_URL=url)
    return await run_group("bot.cli.audit", "verify", *args, cwd=tmp_path, env=env)


def _error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


async def _hashes(db: Database) -> dict[int, str]:
    async with db.transaction() as session:
        rows = (await session.execute(text("SELECT id, hash FROM audit_event"))).all()
    return {row_id: row_hash for row_id, row_hash in rows}


async def test_verify_against_a_recorded_head(backend: str, tmp_path: Path) -> None:
    async with standalone(backend, tmp_path) as url:
        db = await migrated(url)
        await fill(db, 6)
        hashes = await _hashes(db)

        current = await _verify(tmp_path, url, "--head", hashes[6])
        older = await _verify(tmp_path, url, "--head", hashes[4].upper())

        async with db.transaction() as session:
            await session.execute(text("DELETE FROM audit_event WHERE id >= 5"))
        await db.dispose()
        plain = await _verify(tmp_path, url)
        truncated = await _verify(tmp_path, url, "--head", hashes[6])

    assert current.returncode == 0, current.stderr
    assert current.stdout.splitlines() == [
        "audit log intact: 6 rows",
        f"the head {hashes[6][:12]}… is row 6; 0 rows came after it",
    ]
    assert older.returncode == 0, older.stderr
    assert (
        older.stdout.splitlines()[1] == f"the head {hashes[4][:12]}… is row 4; 2 rows came after it"
    )

    # Without a head the shorter chain still verifies: the limitation --head removes.
    assert plain.returncode == 0 and plain.stdout.strip() == "audit log intact: 4 rows"
    assert truncated.returncode == 1
    assert truncated.stdout == ""
    assert _error(truncated) == (
        f"aftercare: error: audit log truncated or rewritten: the head {hashes[6][:12]}… is not "
        "in the chain: rows at or before it were deleted or altered"
    )


async def test_verify_with_the_head_file_the_bot_writes(backend: str, tmp_path: Path) -> None:
    head_file = tmp_path / "heads" / "audit-head.log"
    settings = Settings(_env_file=None, audit_head_file=head_file)
    async with standalone(backend, tmp_path) as url:
        db = await migrated(url)
        await fill(db, 3)
        await publish_head(db, settings, now=NOW)
        await fill(db, 2)
        await publish_head(db, settings, now=NOW + timedelta(hours=1))
        hashes = await _hashes(db)

        latest = await _verify(tmp_path, url, "--head-file", str(head_file))
        async with db.transaction() as session:
            await session.execute(text("DELETE FROM audit_event WHERE id = 5"))
        await db.dispose()
        after_delete = await _verify(tmp_path, url, "--head-file", str(head_file))

    lines = head_file.read_text(encoding="utf-8").splitlines()
    assert lines == [
        f"{NOW.isoformat()} 3 {hashes[3]}",
        f"{(NOW + timedelta(hours=1)).isoformat()} 5 {hashes[5]}",
    ]
    assert latest.returncode == 0, latest.stderr
    assert (
        latest.stdout.splitlines()[1]
        == f"the head {hashes[5][:12]}… is row 5; 0 rows came after it"
    )
    assert after_delete.returncode == 1
    assert f"the head {hashes[5][:12]}… is not in the chain" in _error(after_delete)


async def test_check_head_lines(db: Database) -> None:
    await fill(db, 3)
    hashes = await _hashes(db)
    assert await check_head(db, hashes[2]) == (
        True,
        f"the head {hashes[2][:12]}… is row 2; 1 row came after it",
    )
    assert await check_head(db, audit.GENESIS) == (
        True,
        f"the head {audit.GENESIS[:12]}… is row 0; 3 rows came after it",
    )
    assert await check_head(db, "e" * 64) == (
        False,
        "the head eeeeeeeeeeee… is not in the chain: rows at or before it were deleted or altered",
    )


def test_expected_head_reads_the_last_line(tmp_path: Path) -> None:
    head_file = tmp_path / "heads.log"
    head_file.write_text(
        f"2026-12-01T09:00:00+00:00 3 {'a' * 64}\n2026-12-01T10:00:00+00:00 7 {'b' * 64}\n\n",
        encoding="utf-8",
    )
    assert expected_head(None, head_file) == "b" * 64
    assert expected_head(f"  {'C' * 64} ", None) == "c" * 64
    assert expected_head(None, None) is None


@pytest.mark.parametrize(
    ("head", "file_text", "message"),
    [
        ("abc", None, "--head: not a 64-character hex hash: 'abc'"),
        ("0" * 64, "", "give --head or --head-file, not both"),
        (None, None, "heads.log: cannot be read"),
        (None, "\n", "heads.log: no head written yet"),
        (None, "2026-12-01T09:00:00+00:00 3 nothex\n", "heads.log: last line is not"),
        (None, f"yesterday 3 {'a' * 64}\n", "heads.log: last line has no ISO time"),
    ],
)
def test_expected_head_refuses_bad_input(
    tmp_path: Path, head: str | None, file_text: str | None, message: str
) -> None:
    head_file = tmp_path / "heads.log"
    if file_text is not None:
        head_file.write_text(file_text, encoding="utf-8")
    with pytest.raises(CliError) as caught:
        expected_head(head, head_file if file_text is not None or head is None else None)
    assert message in str(caught.value)
    assert caught.value.exit_code == 2


async def test_bad_head_is_one_line_and_exit_2(tmp_path: Path) -> None:
    async with standalone("sqlite", tmp_path) as url:
        result = await _verify(tmp_path, url, "--head", "abc")
    assert result.returncode == 2
    assert _error(result) == "aftercare: error: --head: not a 64-character hex hash: 'abc'"


async def test_empty_chain_head_is_genesis(tmp_path: Path) -> None:
    async with standalone("sqlite", tmp_path) as url:
        await (await migrated(url)).dispose()
        result = await _verify(tmp_path, url, "--head", audit.GENESIS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "audit log intact: 0 rows",
        f"the head {audit.GENESIS[:12]}… is row 0; 0 rows came after it",
    ]
