"""Fixtures shared by every test module: backends, databases, the sandbox Bot API, the bot."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from storage.engine import Database
from storage.migrate import upgrade
from tests.auxil.databases import IsolatedDatabase, isolated, postgres_url

if TYPE_CHECKING:
    from sandbox import BotApiSandbox

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(
                postgres_url() is None, reason="AFTERCARE_TEST_DATABASE_URL is not set"
            ),
        ],
    ),
]


@pytest.fixture(autouse=True)
async def settle_background_threads() -> AsyncIterator[None]:
    """Let aiosqlite worker threads finish resolving futures while this test's loop is alive.

    A connection abandoned by a cancelled task or a failed connect is stopped from its
    finaliser; without this its thread may report back after the loop has closed.
    """
    yield
    gc.collect()
    await asyncio.sleep(0.02)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def test_db(backend: str, tmp_path: Path) -> AsyncIterator[IsolatedDatabase]:
    """An empty, isolated database on each backend."""
    async with isolated(backend, tmp_path) as database:
        yield database


@pytest.fixture
async def db(test_db: IsolatedDatabase) -> AsyncIterator[Database]:
    """A migrated database on each backend."""
    database = test_db.open()
    await upgrade(database)
    yield database
    await database.dispose()


@pytest.fixture
async def sandbox() -> AsyncIterator[BotApiSandbox]:
    from sandbox import BotApiSandbox

    async with BotApiSandbox() as server:
        yield server
