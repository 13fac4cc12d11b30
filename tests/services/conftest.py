"""Fixtures of the services' tests."""

from __future__ import annotations

import pytest

from storage.engine import Database


@pytest.fixture
def pg(db: Database) -> Database:
    """The test's database, PostgreSQL only (the lock-order tests: SQLite serialises writers)."""
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL only (SQLite serialises writers)")
    return db
