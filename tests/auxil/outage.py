"""Database outages a test controls, without touching the shared PostgreSQL server.

`TcpProxy` sits between the bot and PostgreSQL: `cut()` drops every connection and refuses new
ones, `restore()` listens again on the same port. `sqlite_write_lock` holds SQLite's write lock
from another connection, so writers past their busy timeout get "database is locked".
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

import storage.engine
from storage.engine import Database
from tests.auxil.databases import IsolatedDatabase, isolated, postgres_url

SQLITE_BUSY_TIMEOUT_MS = 1000  # a locked SQLite file fails writers this fast in these tests


class TcpProxy:
    """A loopback TCP relay to `target_host:target_port` that can be cut and restored."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._pipes.update((writer, up_writer))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._pipes.difference_update((writer, up_writer))

    async def cut(self) -> None:
        """Refuse new connections and break every open one (the database 'goes away')."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for pipe in list(self._pipes):
            with contextlib.suppress(Exception):
                pipe.transport.abort()
        self._pipes.clear()

    async def restore(self) -> None:
        await self.start()

    async def stop(self) -> None:
        await self.cut()

    def url_for(self, database_url: str) -> str:
        """The same database URL, through this proxy."""
        return (
            make_url(database_url)
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )


@asynccontextmanager
async def sqlite_write_lock(path: Path) -> AsyncIterator[None]:
    """Hold the database's write lock (BEGIN IMMEDIATE) until the block ends.

    Taken in a thread: waiting for the lock on the event loop would stop the very writer
    that must finish before the lock can be had.
    """
    connection = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    try:
        await asyncio.to_thread(connection.execute, "BEGIN IMMEDIATE")
        yield
    finally:
        await asyncio.to_thread(connection.execute, "ROLLBACK")
        connection.close()


@dataclass
class Breakable:
    """A database for the bot and a way to take it away: `async with outage(): ...`."""

    database: IsolatedDatabase
    outage: Callable[[], AbstractAsyncContextManager[None]]
    problem: str  # what the bot reports while it is away


@asynccontextmanager
async def breakable_database(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Breakable]:
    """SQLite held locked by another writer, or PostgreSQL behind a proxy that is cut."""
    if backend == "sqlite":
        monkeypatch.setattr(storage.engine, "SQLITE_BUSY_TIMEOUT_MS", SQLITE_BUSY_TIMEOUT_MS)
        path = tmp_path / "aftercare.db"

        database = IsolatedDatabase(f"sqlite+aiosqlite:///{path}")
        yield Breakable(database, lambda: sqlite_write_lock(path), "database is locked")
        return
    url = make_url(postgres_url() or "")
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()

    @asynccontextmanager
    async def cut() -> AsyncIterator[None]:
        await proxy.cut()
        try:
            yield
        finally:
            await proxy.restore()

    try:
        async with isolated("postgresql", tmp_path) as direct:
            through = IsolatedDatabase(proxy.url_for(direct.url), direct.engine_kwargs)
            yield Breakable(through, cut, "Connect call failed")
    finally:
        await proxy.stop()


_WAITING_HERE = text(
    "SELECT count(*) FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid "
    "WHERE NOT l.granted AND a.datname = current_database()"
)


async def until_someone_waits(db: Database) -> None:
    """Until another connection to this test's database waits for a lock on PostgreSQL (or 5 s:
    then the order let it through): lock-order tests hold a lock, wait here, then take the
    next one. Other databases on the server (other workers' tests) are not looked at: their
    waits would let the test go on before its own writer waits."""
    for _ in range(100):
        async with db.engine.connect() as conn:
            waiting = (await conn.execute(_WAITING_HERE)).scalar()
        if waiting:
            return
        await asyncio.sleep(0.05)
