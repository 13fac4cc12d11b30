"""Test databases: a fresh SQLite file, or a fresh PostgreSQL schema or database."""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from storage.crypto.keyring import open_database
from storage.engine import Database
from storage.migrate import upgrade

PG_ENV = "AFTERCARE_TEST_DATABASE_URL"
# The tests' key-encryption key (set in the environment by conftest, passed to the commands the
# tests start): fixed, so a failure can be reproduced; a real one comes from `aftercare keys new`.
TEST_DATA_KEY = "test:" + "dGVzdC1vbmx5LWtleS1mb3ItYWZ0ZXJjYXJlLXRlc3Q"


def postgres_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@dataclass
class IsolatedDatabase:
    """A URL plus the engine options that point it at an isolated place."""

    url: str
    engine_kwargs: dict[str, Any] = field(default_factory=dict)

    def open(self) -> Database:
        return open_database(self.url, **self.engine_kwargs)


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@asynccontextmanager
async def isolated(backend: str, tmp_path: Path) -> AsyncIterator[IsolatedDatabase]:
    """In-process tests: a SQLite file, or a throwaway PostgreSQL schema on the test server."""
    if backend == "sqlite":
        yield IsolatedDatabase(f"sqlite+aiosqlite:///{tmp_path / 'aftercare.db'}")
        return
    url = postgres_url()
    assert url, f"{PG_ENV} is not set"
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        yield IsolatedDatabase(url, {"connect_args": {"server_settings": {"search_path": schema}}})
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


@asynccontextmanager
async def standalone(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """Subprocess tests: a URL alone (a SQLite file, or a throwaway PostgreSQL database)."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'aftercare.db'}"
        return
    url = postgres_url()
    assert url, f"{PG_ENV} is not set"
    name = f"aftercare_t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


# A migrated template per backend, made once per test process (each xdist worker has its own):
# a SQLite file, or a PostgreSQL database. Migrating takes ~0.4 s on SQLite and ~2 s on
# PostgreSQL; copying the template takes milliseconds.
_templates: dict[str, str] = {}


async def _sqlite_template() -> str:
    folder = tempfile.mkdtemp(prefix="aftercare-template-")
    atexit.register(shutil.rmtree, folder, True)
    path = Path(folder) / "template.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(database)
    finally:
        await database.dispose()
    assert not path.with_name("template.db-wal").exists(), "the template is not checkpointed"
    return str(path)


async def _postgres_template(url: str) -> str:
    name = f"aftercare_tpl_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    atexit.register(_drop_in_thread, url, name)
    database = Database(make_url(url).set(database=name).render_as_string(hide_password=False))
    try:
        await upgrade(database)
    finally:
        await database.dispose()
    return name


def _drop_in_thread(url: str, name: str) -> None:
    """At exit, outside any event loop of the tests."""

    async def drop() -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(url))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    thread = threading.Thread(target=asyncio.run, args=(drop(),))
    thread.start()
    thread.join(timeout=30)


@asynccontextmanager
async def migrated_copy(backend: str, tmp_path: Path) -> AsyncIterator[IsolatedDatabase]:
    """A database at the head revision, as `upgrade` leaves an empty one, copied from this
    process's migrated template: a SQLite file, or a PostgreSQL database of its own."""
    if backend == "sqlite":
        if "sqlite" not in _templates:
            _templates["sqlite"] = await _sqlite_template()
        path = tmp_path / "aftercare.db"
        shutil.copyfile(_templates["sqlite"], path)
        yield IsolatedDatabase(f"sqlite+aiosqlite:///{path}")
        return
    url = postgres_url()
    assert url, f"{PG_ENV} is not set"
    if "postgresql" not in _templates:
        _templates["postgresql"] = await _postgres_template(url)
    name = f"aftercare_t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_templates["postgresql"]}"')
        copy = make_url(url).set(database=name).render_as_string(hide_password=False)
        yield IsolatedDatabase(copy)
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
