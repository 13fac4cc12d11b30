"""storage.backup and the audit head: consistent copies under writers, pg_dump's command line,
and where a recorded head sits in the chain."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from storage import audit
from storage.backup import BackupError
from storage.backup.postgres import backup_postgres, libpq_url, pg_dump_command
from storage.backup.sqlite import backup_sqlite, copy_sqlite, sqlite_file
from storage.crypto.keyring import open_database
from storage.engine import Database
from storage.migrate import head_revision
from storage.states import Actor, ActorKind
from tests.auxil.backups import NOW, Writers, fill, migrated, read_rows, restore
from tests.auxil.databases import isolated, postgres_url, standalone

CLI = Actor.of(ActorKind.CLI)


async def _backup(backend: str, db: Database, dest: Path) -> audit.Head | None:
    if backend == "sqlite":
        info = await backup_sqlite(db.url, dest)
    else:
        program = shutil.which("pg_dump")
        if program is None:
            pytest.skip("pg_dump is not installed")
        info = await backup_postgres(db, dest, program=program)
    assert info.path == dest and info.revision == head_revision()
    assert info.size > 0
    return info.head


async def test_copy_holds_every_commit_made_before_it_began(backend: str, tmp_path: Path) -> None:
    """In-process, so "before" is the moment the copy is asked for, not a process start."""
    async with standalone(backend, tmp_path) as url:
        db = await migrated(url)
        await fill(db, 500)
        writers = Writers(db)
        writers.start()
        try:
            await writers.reach(20)
            before = writers.committed()
            head = await _backup(backend, db, tmp_path / "copy")
            await writers.reach(len(writers.patient_ids) + 5)
        finally:
            await writers.stop()
        await db.dispose()
    assert head is not None

    (tmp_path / "restored").mkdir()
    async with standalone(backend, tmp_path / "restored") as restored:
        await restore(backend, tmp_path / "copy", restored)
        rows = await read_rows(restored)
        copy = open_database(restored)
        try:
            async with copy.transaction() as session:
                assert await audit.head(session) == head  # the head reported is the copy's
            assert (await audit.verify_database(copy)).ok
        finally:
            await copy.dispose()
    assert rows.holds(before)
    assert rows.whole_transactions()
    assert max(rows.audit_ids) == head.id < max(writers.audit_ids)


@pytest.mark.postgres
@pytest.mark.skipif(postgres_url() is None, reason="AFTERCARE_TEST_DATABASE_URL is not set")
async def test_failed_pg_dump_leaves_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "copy" / "copy.dump"
    dest.parent.mkdir()
    async with isolated("postgresql", tmp_path) as place:
        db = place.open()
        try:
            with pytest.raises(BackupError, match=r"^pg_dump exited with 1: "):
                await backup_postgres(db, dest, program=str(shutil.which("false")))
        finally:
            await db.dispose()
    assert _files(dest.parent) == []


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_sqlite_copy_refuses_a_missing_source_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no such database file"):
        copy_sqlite(tmp_path / "absent.db", tmp_path / "copy.db")
    assert _files(tmp_path) == []


def test_sqlite_copy_of_a_non_database_leaves_no_partial(tmp_path: Path) -> None:
    source = tmp_path / "junk.db"
    source.write_bytes(b"not a database" * 512)
    (tmp_path / "copy.db").write_bytes(b"older copy")
    with pytest.raises(BackupError, match="SQLite backup of"):
        copy_sqlite(source, tmp_path / "copy.db")
    assert _files(tmp_path) == ["copy.db", "junk.db"]
    assert (tmp_path / "copy.db").read_bytes() == b"older copy"


def test_sqlite_copy_refuses_to_overwrite_its_source(tmp_path: Path) -> None:
    source = tmp_path / "a.db"
    source.write_bytes(b"")
    with pytest.raises(BackupError, match="is the live database itself"):
        copy_sqlite(source, tmp_path / "." / "a.db")


@pytest.mark.parametrize(
    "url",
    ["sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite:///file:x?uri=true"],
)
def test_sqlite_file_refuses_what_is_not_a_file(url: str) -> None:
    with pytest.raises(BackupError, match="not a SQLite database file"):
        sqlite_file(url)


def test_sqlite_file_keeps_relative_paths() -> None:
    assert sqlite_file("sqlite+aiosqlite:///./aftercare.db") == Path("aftercare.db")
    assert sqlite_file("sqlite+aiosqlite:////var/lib/a.db") == Path("/var/lib/a.db")


def test_pg_dump_command_keeps_the_password_out_of_sight() -> None:
    url = "postgresql+asyncpg://care:p%40ss%20word@db.example:5433/aftercare?ssl=require"
    command = pg_dump_command(url, Path("out dir/a.dump"))
    target = "postgresql://care@db.example:5433/aftercare?sslmode=require"
    assert command.argv == ["pg_dump", "--format=custom", "--file", "out dir/a.dump", target]
    assert command.password == "p@ss word"
    assert command.env()["PGPASSWORD"] == "p@ss word"
    assert command.display() == (
        f"PGPASSWORD=... pg_dump --format=custom --file 'out dir/a.dump' '{target}'"
    )
    assert "p@ss" not in command.display() and "%40" not in command.display()


def test_pg_dump_command_without_a_password() -> None:
    command = pg_dump_command("postgresql+asyncpg://postgres@127.0.0.1/test", Path("a.dump"))
    assert command.password is None and "PGPASSWORD" not in command.display()
    assert str(libpq_url("postgresql+asyncpg://postgres@127.0.0.1/test")) == (
        "postgresql://postgres@127.0.0.1/test"
    )


# --- the head of the audit chain ------------------------------------------------------------


async def _append(db: Database, count: int) -> None:
    async with db.transaction() as session:
        for i in range(count):
            await audit.append(session, at=NOW, actor=CLI, event="e", detail={"i": i})


async def _hash_of(db: Database, row_id: int) -> str:
    async with db.transaction() as session:
        found = await session.scalar(
            text("SELECT hash FROM audit_event WHERE id = :i"), {"i": row_id}
        )
    assert isinstance(found, str)
    return found


async def test_head_is_the_newest_row(db: Database) -> None:
    async with db.transaction() as session:
        assert await audit.head(session) is None
    await _append(db, 4)
    fourth = await _hash_of(db, 4)
    async with db.transaction() as session:
        assert await audit.head(session) == audit.Head(id=4, hash=fourth)


async def test_locate_places_a_recorded_head(db: Database) -> None:
    async with db.transaction() as session:
        assert await audit.locate(session, audit.GENESIS) == audit.HeadPosition(0, 0)
    await _append(db, 5)
    third = await _hash_of(db, 3)
    async with db.transaction() as session:
        assert await audit.locate(session, third) == audit.HeadPosition(id=3, rows_after=2)
        assert await audit.locate(session, audit.GENESIS) == audit.HeadPosition(0, 5)
        assert await audit.locate(session, "f" * 64) is None


async def test_a_deleted_head_is_no_longer_found(db: Database) -> None:
    await _append(db, 5)
    fifth = await _hash_of(db, 5)
    async with db.transaction() as session:
        await session.execute(text("DELETE FROM audit_event WHERE id >= 4"))
    assert (await audit.verify_database(db)).ok  # the chain alone cannot tell
    async with db.transaction() as session:
        assert await audit.locate(session, fifth) is None
