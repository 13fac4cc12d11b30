"""A PostgreSQL copy with `pg_dump`, in a snapshot whose revision and audit head are known."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage import audit
from storage.backup import BackupError, BackupInfo, partial_path, sync_and_rename
from storage.engine import Database


def libpq_url(url: str) -> URL:
    """The libpq form of a `postgresql+asyncpg://` URL, without its password.

    asyncpg's `ssl=` query option is libpq's `sslmode=`.
    """
    parsed = make_url(url).set(drivername="postgresql")._replace(password=None)  # set() keeps it
    query = dict(parsed.query)
    if "ssl" in query and "sslmode" not in query:
        query["sslmode"] = query.pop("ssl")
    return parsed.set(query=query)


@dataclass(frozen=True)
class PgDump:
    """A `pg_dump` invocation: the arguments, and the password to pass as PGPASSWORD."""

    argv: list[str]
    password: str | None

    def display(self) -> str:
        """The command as an operator would type it; never the password."""
        command = shlex.join(self.argv)
        return f"PGPASSWORD=... {command}" if self.password else command

    def env(self) -> dict[str, str]:
        extra = {"PGPASSWORD": self.password} if self.password else {}
        return os.environ | extra


def pg_dump_command(url: str, dest: Path, *, program: str = "pg_dump") -> PgDump:
    """`pg_dump --format=custom --file DEST URL`, the password kept out of the arguments."""
    target = libpq_url(url).render_as_string(hide_password=False)
    argv = [program, "--format=custom", "--file", str(dest), target]
    return PgDump(argv=argv, password=make_url(url).password)


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def _dump(command: PgDump, snapshot: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *command.argv[:1],
        f"--snapshot={snapshot}",
        *command.argv[1:],
        env=command.env(),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await process.communicate()
    except BaseException:  # cancelled or interrupted: leave no pg_dump running
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        lines = stderr.decode(errors="replace").strip().splitlines() or ["(no output)"]
        raise BackupError(f"pg_dump exited with {process.returncode}: {lines[0]}")


async def _dump_in_snapshot(
    connection: AsyncConnection, command: PgDump
) -> tuple[str | None, audit.Head | None]:
    """Export this transaction's snapshot, read its revision and head, pg_dump exactly it."""
    await connection.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
    snapshot = (await connection.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
    revision = await connection.run_sync(_revision)
    head = None
    if revision is not None:
        async with AsyncSession(bind=connection) as session:
            head = await audit.head(session)
    await _dump(command, snapshot)
    return revision, head


async def backup_postgres(db: Database, dest: Path, *, program: str) -> BackupInfo:
    """`pg_dump` the database to `dest`; the revision and head printed are the dump's own.

    pg_dump runs in a snapshot exported from a read-only transaction held open meanwhile,
    so what it writes is exactly what that transaction saw.
    """
    partial = partial_path(dest)
    command = pg_dump_command(db.url, partial, program=program)
    try:
        async with db.engine.connect() as connection, connection.begin():
            revision, head = await _dump_in_snapshot(connection, command)
        size = await asyncio.to_thread(sync_and_rename, partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    return BackupInfo(path=dest, size=size, revision=revision, head=head)
