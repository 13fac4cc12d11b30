"""Alembic environment: runs on a connection handed in by storage.migrate (async engines)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def run_on(connection: Connection) -> None:
    """Migrate on the given connection; batch mode lets SQLite alter tables."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # The keyring (storage/crypto/keyring) keeps its one table itself, in its own database
        # or, on PostgreSQL by default, beside these: not Alembic's to create or drop.
        include_object=lambda _obj, name, type_, _reflected, _compare: (
            not (type_ == "table" and name == "patient_key")
        ),
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `aftercare db upgrade` (storage.migrate)")
run_on(connection)
