"""`aftercare db backup` and `db check`, on both backends, run as subprocesses.

The headline test takes a backup while writers keep committing, restores it (SQLite: the copy
is a database file; PostgreSQL: pg_restore into a fresh database), checks it with the CLI, and
finds every row committed before the backup began.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from storage import audit
from storage.migrate import head_revision
from tests.auxil.backups import Writers, fill, migrated, read_rows, restore
from tests.auxil.cli import cli_env, run_group
from tests.auxil.databases import standalone

AFTERCARE = Path(sys.executable).parent / "aftercare"
HEAD_RE = re.compile(r"^audit head: row (\d+) ([0-9a-f]{64})$", re.MULTILINE)


async def _db(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(tmp_path, AFTERCARE_DATABASE_URL=url)
    return await run_group("bot.cli.db", *args, cwd=tmp_path, env=env)


async def _audit(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(tmp_path, AFTERCARE_DATABASE_URL=url)
    return await run_group("bot.cli.audit", *args, cwd=tmp_path, env=env)


def _error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("aftercare: error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


async def test_backup_while_writing_restores_complete_and_verified(
    backend: str, tmp_path: Path
) -> None:
    if backend == "postgresql" and shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    async with standalone(backend, tmp_path) as url:
        db = await migrated(url)
        await fill(db, 1_000)
        writers = Writers(db)
        writers.start()
        try:
            await writers.reach(10)
            before = writers.committed()
            copy = tmp_path / "backup.copy"
            backup = await _db(tmp_path, url, "backup", str(copy))
            during = writers.committed().patient_ids - before.patient_ids
            await writers.reach(len(writers.patient_ids) + 5)
        finally:
            await writers.stop()
        async with db.transaction() as session:
            final = await audit.head(session)
        await db.dispose()

    assert backup.returncode == 0, backup.stderr
    assert during, "the writers committed nothing while the backup ran"
    assert f"wrote {copy} (" in backup.stdout
    assert f"schema revision: {head_revision()}" in backup.stdout
    printed = HEAD_RE.search(backup.stdout)
    assert printed, backup.stdout
    head_id, head_hash = int(printed.group(1)), printed.group(2)

    (tmp_path / "restored").mkdir()
    async with standalone(backend, tmp_path / "restored") as restored:
        await restore(backend, copy, restored)
        check = await _db(tmp_path, restored, "check", "--head", head_hash)
        verify = await _audit(tmp_path, restored, "verify")
        rows = await read_rows(restored)

    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.splitlines() == [
        f"schema: ok, at revision {head_revision()}, this Aftercare's head",
        f"audit chain: ok, {head_id} rows, every link intact",
        f"audit head: ok, the head {head_hash[:12]}… is row {head_id}; 0 rows came after it",
    ]
    assert verify.returncode == 0, verify.stderr
    assert verify.stdout.strip() == f"audit log intact: {head_id} rows"
    # Every row committed before the backup began is in the copy, whole transactions only;
    # the copy ends at the printed head, and the writers went on after it (a restore loses it).
    assert rows.holds(before)
    assert rows.whole_transactions()
    assert max(rows.audit_ids) == head_id == len(rows.audit_ids)
    assert final is not None and final.id > head_id


async def test_check_fails_on_wrong_schema_version(backend: str, tmp_path: Path) -> None:
    async with standalone(backend, tmp_path) as url:
        db = await migrated(url)
        await fill(db, 3)
        async with db.transaction() as session:
            await session.execute(text("UPDATE alembic_version SET version_num = '0002'"))
        await db.dispose()
        result = await _db(tmp_path, url, "check")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"schema: FAILED, the database is at revision 0002, but this Aftercare's head is "
        f"{head_revision()}",
        "audit chain: ok, 3 rows, every link intact",
    ]
    assert _error(result) == "aftercare: error: database check failed: schema"


async def test_check_fails_on_a_broken_chain(backend: str, tmp_path: Path) -> None:
    async with standalone(backend, tmp_path) as url:
        db = await migrated(url)
        await fill(db, 5)
        async with db.transaction() as session:
            await session.execute(text("""UPDATE audit_event SET detail = '{}' WHERE id = 2"""))
        await db.dispose()
        result = await _db(tmp_path, url, "check")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("schema: ok"), lines
    assert lines[1] == (
        "audit chain: FAILED, broken at row 2: row 2 was altered (its hash does not match)"
    )
    assert _error(result) == "aftercare: error: database check failed: audit chain"


async def test_check_without_a_database_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'nothing.db'}"
    result = await _db(tmp_path, url, "check")
    assert result.returncode == 1
    assert "nothing.db: no such database file" in _error(result)
    assert not (tmp_path / "nothing.db").exists()


async def test_backup_refuses_to_overwrite_without_force(backend: str, tmp_path: Path) -> None:
    if backend == "postgresql" and shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    async with standalone(backend, tmp_path) as url:
        db = await migrated(url)
        await fill(db, 2)
        await db.dispose()
        copy = tmp_path / "copy"
        copy.write_bytes(b"keep me")
        refused = await _db(tmp_path, url, "backup", str(copy))
        assert refused.returncode == 2
        assert _error(refused) == f"aftercare: error: {copy} exists; pass --force to overwrite it"
        assert copy.read_bytes() == b"keep me"

        forced = await _db(tmp_path, url, "backup", "--force", str(copy))
        assert forced.returncode == 0, forced.stderr
        assert copy.read_bytes() != b"keep me"
        assert HEAD_RE.search(forced.stdout) is not None
        assert _partials(tmp_path) == []


def _partials(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if "partial" in p.name]


async def test_sqlite_backup_refuses_the_live_file(tmp_path: Path) -> None:
    async with standalone("sqlite", tmp_path) as url:
        await (await migrated(url)).dispose()
        live = Path(url.removeprefix("sqlite+aiosqlite:///"))
        result = await _db(tmp_path, url, "backup", "--force", str(live))
    assert result.returncode == 1
    assert "is the live database itself" in _error(result)


async def test_backup_without_pg_dump_prints_the_command(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://aftercare:s3cret-pw@db.example:5433/aftercare"
    env = cli_env(tmp_path, AFTERCARE_DATABASE_URL=url, PATH=str(tmp_path))
    result = await run_group("bot.cli.db", "backup", "out.dump", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert _error(result) == (
        "aftercare: error: pg_dump is not on PATH; install it, or run: PGPASSWORD=... "
        "pg_dump --format=custom --file out.dump "
        "postgresql://aftercare@db.example:5433/aftercare"
    )
    assert "s3cret" not in result.stdout + result.stderr
    assert not (tmp_path / "out.dump").exists()


def test_db_group_is_registered_in_aftercare(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(AFTERCARE), "db", "--help"],
        cwd=tmp_path,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for name in ("upgrade", "backup", "check"):
        assert re.search(rf"\b{name}\b", result.stdout), name
