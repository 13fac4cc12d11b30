"""Fixtures shared by every test module: backends, databases, the sandbox Bot API, the bot."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from storage.engine import Database
from tests.auxil import wall_clock
from tests.auxil.databases import (
    TEST_DATA_KEY,
    IsolatedDatabase,
    isolated,
    migrated_copy,
    postgres_url,
)

if TYPE_CHECKING:
    from sandbox import BotApiSandbox


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--wall-clock",
        default=os.environ.get(wall_clock.SPEC_ENV) or None,
        help="run as if the wall clock read this instant, e.g. 2026-12-06T02:40 (UTC), "
        "2026-12-06T02:40@America/New_York or 23:59 (today, UTC); see tests/auxil/wall_clock.py",
    )


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("AFTERCARE_DATA_KEY", TEST_DATA_KEY)
    spec = config.getoption("--wall-clock")
    if spec:
        wall_clock.travel(spec)


@pytest.fixture(scope="session", autouse=True)
def wall_clock_of_subprocesses() -> None:
    """Under `--wall-clock`, the commands the tests start travel too. (A fixture: it runs in
    the process that runs the tests, never in the controller of pytest-xdist's workers.)"""
    wall_clock.export_to_subprocesses()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    spec = terminalreporter.config.getoption("--wall-clock")
    if spec:
        terminalreporter.write_line(f"wall clock: {spec} = {wall_clock.parse(spec).isoformat()}")


@pytest.fixture(params=wall_clock.INSTANTS)
def any_hour(request: pytest.FixtureRequest) -> Iterator[str]:
    """The test runs once at each instant of `wall_clock.INSTANTS` (00:00, 02:40, 12:00, 23:59
    in UTC and in the test clinics' zone), the process travelled there and ticking on: for tests
    that plan from "now". (`pytest --wall-clock=...` travels a whole run instead.)"""
    import time_machine

    with time_machine.travel(wall_clock.parse(request.param), tick=True):
        yield request.param


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
    if any(t.name.endswith("(_connection_worker_thread)") for t in threading.enumerate()):
        # An aiosqlite connection's thread is alive. (A full collection takes ~0.2 s of a
        # loaded process: not spent after the many tests that leave none.)
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
async def db(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated database on each backend (a copy of one migrated once per test process)."""
    async with migrated_copy(backend, tmp_path) as copy:
        database = copy.open()
        yield database
        await database.dispose()


@pytest.fixture
async def sandbox() -> AsyncIterator[BotApiSandbox]:
    from sandbox import BotApiSandbox

    async with BotApiSandbox() as server:
        yield server
