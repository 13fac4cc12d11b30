"""A SQLite copy with the online backup API, while other connections keep writing."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import make_url

from storage.backup import BackupError, BackupInfo, partial_path, read_state, sync_and_rename
from storage.engine import SQLITE_BUSY_TIMEOUT_MS, Database


def sqlite_file(url: str) -> Path:
    """The database file of a `sqlite+aiosqlite:///PATH` URL (relative to the working dir)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError(f"{url}: not a SQLite database file")
    return Path(database)


def sqlite_url(path: Path) -> str:
    """The URL of the SQLite database file at `path`."""
    return f"sqlite+aiosqlite:///{path.resolve()}"


def copy_sqlite(source: Path, dest: Path) -> int:
    """Copy `source` to `dest` with the online backup API while other connections write.

    The source is opened read-only; the copy is one consistent snapshot (the whole backup is
    one step, holding a read transaction, which in WAL mode never blocks the writers).
    Returns the size of the copy.
    """
    if not source.is_file():
        raise BackupError(f"{source}: no such database file")
    if dest.resolve() == source.resolve():
        raise BackupError(f"{dest} is the live database itself")
    partial = partial_path(dest)
    timeout = SQLITE_BUSY_TIMEOUT_MS / 1000
    try:
        src = sqlite3.connect(
            f"file:{quote(str(source.resolve()))}?mode=ro", uri=True, timeout=timeout
        )
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
        return sync_and_rename(partial, dest)
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup of {source} failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)


async def backup_sqlite(url: str, dest: Path) -> BackupInfo:
    """Copy the SQLite database of `url` to `dest`, then read the copy's revision and head."""
    size = await asyncio.to_thread(copy_sqlite, sqlite_file(url), dest)
    copy = Database(sqlite_url(dest))
    try:
        revision, head = await read_state(copy)
    finally:
        await copy.dispose()
    return BackupInfo(path=dest, size=size, revision=revision, head=head)
