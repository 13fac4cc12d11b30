"""The async engine and transactions: SQLite (WAL, busy timeout, BEGIN IMMEDIATE) or PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SQLITE_BUSY_TIMEOUT_MS = 10_000


class WriteInReader(RuntimeError):
    """A statement tried to write inside `Database.read()`: a bug, never an outage."""


class WriterBusy(TimeoutError):
    """SQLite's write lock could not be had within the busy timeout (an outage, retried)."""


class DatabaseUnavailable(Exception):
    """The database cannot be reached or used; the message is one line for the operator."""


# Failures that say "the database cannot be used right now", not "this request is wrong": a
# connection refused or dropped, a pool timeout, SQLite's "database is locked" past the busy
# timeout, "database or disk is full", a read-only or I/O-failing file.
_OUTAGE_ERRORS = (
    exc.OperationalError,
    exc.InterfaceError,
    exc.DisconnectionError,
    exc.TimeoutError,
    ConnectionError,
    TimeoutError,
    OSError,
)


def is_unavailable(error: BaseException) -> bool:
    """True when `error` means the database is down, locked or full (an outage, retried)."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, _OUTAGE_ERRORS):
        return True
    # The keyring's database failing while a value is sealed reaches here wrapped in the
    # statement's error (storage/crypto/sealed): the outage is its cause.
    cause = error.orig if isinstance(error, exc.StatementError) else None
    return isinstance(cause, BaseException) and is_unavailable(cause)


def describe_failure(error: BaseException) -> str:
    """One line for the operator: the driver's own words, without SQL or parameters."""
    cause = error.orig if isinstance(error, exc.DBAPIError) and error.orig else error
    text = str(cause).splitlines()[0] if str(cause) else ""
    return f"{type(cause).__name__}: {text}"[:200] if text else type(cause).__name__


def _configure_sqlite(engine: AsyncEngine, *, reader: bool) -> None:
    """Pragmas on every connection; a writer's every transaction a writer from its first
    statement, a reader's connections refused any write (query_only)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below decide
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Deleted and overwritten content is zeroed in the file, not left in free space: an
        # erased patient's words must not linger (issue 31). Some builds default to it; not all.
        cursor.execute("PRAGMA secure_delete=ON")
        if reader:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A reader (`Database.read`) takes a snapshot and no lock. Every other transaction
        # takes the write lock up front: no deadlock-prone read-then-upgrade between instances.
        connection.exec_driver_sql("BEGIN" if reader else "BEGIN IMMEDIATE")


def create_engine(url: str, *, reader: bool = False, **kwargs: Any) -> AsyncEngine:
    """An async engine for a `sqlite+aiosqlite://` or `postgresql+asyncpg://` URL (on SQLite,
    `reader`: one whose transactions only read)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        kwargs.setdefault("hide_parameters", True)  # patient text never reaches a log line
        engine = create_async_engine(url, **kwargs)
        _configure_sqlite(engine, reader=reader)
        return engine
    if parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("hide_parameters", True)
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_size", 10)
        return create_async_engine(url, **kwargs)
    raise DatabaseUnavailable(
        f"unsupported database URL scheme {parsed.drivername!r}: "
        "use sqlite+aiosqlite:/// or postgresql+asyncpg://"
    )


def _refused_as_read_only(error: exc.DBAPIError) -> bool:
    """SQLite's `query_only` refusal, or PostgreSQL's in a READ ONLY transaction."""
    words = str(error.orig)
    return "readonly" in words or "read-only transaction" in words


class Keys(Protocol):
    """The patients' data keys beside a Database (`storage.crypto.keyring.Keyring`)."""

    url: str

    async def open(self) -> None: ...
    async def shred(self, owner: int, *, now: datetime) -> bool: ...
    async def shredded(self) -> set[int]: ...
    async def rotate(self) -> int: ...
    async def dispose(self) -> None: ...


class Database:
    """One engine and its sessions; `transaction()` is the unit of work for every caller."""

    def __init__(self, url: str, *, keyring: Keys | None = None, **engine_kwargs: Any) -> None:
        self.url = url
        self.keyring = keyring  # the patients' data keys (storage.crypto.keyring.open_database)
        self.engine_kwargs = engine_kwargs  # to open the same place again (a second instance)
        self.engine = create_engine(url, **engine_kwargs)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False, autoflush=True
        )
        # On SQLite, readers have connections of their own, which never write and never
        # wait for this process's writers (WAL readers run beside the writer).
        self._reader_engine = (
            create_engine(url, reader=True, **engine_kwargs) if self.dialect == "sqlite" else None
        )
        # On PostgreSQL, readers share the pool; their transactions begin READ ONLY (asyncpg
        # starts them so: no statement more), and the setting is reset when they are returned.
        self._readers = async_sessionmaker(
            self._reader_engine or self.engine.execution_options(postgresql_readonly=True),
            class_=AsyncSession,
            expire_on_commit=False,
            autoflush=False,
        )
        # SQLite has one writer at a time and every transaction here is a writer (BEGIN
        # IMMEDIATE). Within this process they queue on this lock, in order, instead of
        # polling SQLite's busy handler, which sleeps up to 100 ms a try and starves under load.
        self._one_writer = asyncio.Lock() if self.dialect == "sqlite" else None

    @property
    def engines(self) -> tuple[AsyncEngine, ...]:
        """Every engine on this database: the writers', and on SQLite the readers'."""
        return (self.engine,) if self._reader_engine is None else (self.engine, self._reader_engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed on success, rolled back on any error."""
        if self._one_writer is None:
            async with self._sessions() as session, session.begin():
                yield session
            return
        try:
            async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_MS / 1000):  # as SQLite would wait
                await self._one_writer.acquire()
        except TimeoutError:
            raise WriterBusy("database is locked (a writer of this process held it)") from None
        try:
            async with self._sessions() as session, session.begin():
                yield session
        finally:
            self._one_writer.release()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reading only. On SQLite: one snapshot, on connections of its own that
        never wait for this process's writers (WAL readers run beside the writer), and a write
        is refused (`WriteInReader`). On PostgreSQL: a READ ONLY transaction (a write is
        refused the same way)."""
        try:
            async with self._readers() as session, session.begin():
                yield session
        except exc.DBAPIError as error:
            if _refused_as_read_only(error):
                raise WriteInReader("a write inside Database.read()") from error
            raise

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._reader_engine is not None:
            await self._reader_engine.dispose()
        if self.keyring is not None:
            await self.keyring.dispose()

    def redacted_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)
