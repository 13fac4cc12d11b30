"""Test databases: a fresh SQLite file, or a fresh PostgreSQL schema or database."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from storage.engine import Database

PG_ENV = "AFTERCARE_TEST_DATABASE_URL"


def postgres_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@dataclass
class IsolatedDatabase:
    """A URL plus the engine options that point it at an isolated place."""

    url: str
    engine_kwargs: dict[str, Any] = field(default_factory=dict)

    def open(self) -> Database:
        return Database(self.url, **self.engine_kwargs)


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
