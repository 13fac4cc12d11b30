"""Schema migrations (Alembic) applied on the async engine, and the start-up schema check."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from storage.engine import Database, DatabaseUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as connection:
        return await connection.run_sync(_current)


async def upgrade(db: Database) -> str:
    """Bring the schema to this code's head; refuse a schema newer than the code."""
    config = alembic_config()
    known = {rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()}
    try:
        current = await current_revision(db)
        if current is not None and current not in known:
            raise DatabaseUnavailable(
                f"database schema revision {current} is newer than this Aftercare "
                f"(knows up to {head_revision()}); upgrade Aftercare before starting it"
            )
        async with db.engine.begin() as connection:
            await connection.run_sync(_upgrade, config)
    except (SQLAlchemyError, OSError) as exc:
        raise DatabaseUnavailable(
            f"database {db.redacted_url()} cannot be reached or migrated: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from exc
    return head_revision()
