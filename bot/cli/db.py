"""`aftercare db`: migrate the schema, back the database up while the bot runs, check a restore.

`backup` and `check` never migrate and never append to the audit log.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError

from bot.cli.audit import HeadFileOption, HeadOption, check_head, expected_head
from bot.cli.support import CliError, load_settings, run_group
from storage import audit
from storage.backup import BackupError, BackupInfo, is_sqlite
from storage.backup.postgres import backup_postgres, pg_dump_command
from storage.backup.sqlite import backup_sqlite, sqlite_file
from storage.engine import Database
from storage.migrate import current_revision, head_revision, upgrade

T = TypeVar("T")

db_app = typer.Typer(
    help="Database schema, backups and checks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _on_database(url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` against `url`; database errors become one line naming the (redacted) URL."""

    async def go() -> T:
        db = Database(url)
        try:
            return await work(db)
        except (SQLAlchemyError, OSError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise CliError(
                f"database {db.redacted_url()}: {type(exc).__name__}: {first}"[:300], 1
            ) from None
        finally:
            await db.dispose()

    return asyncio.run(go())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    revision = _on_database(load_settings().database_url, upgrade)
    typer.echo(f"database at revision {revision}")


@db_app.command("backup")
def db_backup(
    file: Annotated[Path, typer.Argument(help="Where to write the copy.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
) -> None:
    """Write a consistent copy of the database while the bot runs.

    SQLite: the online backup API; the copy is itself a database file. PostgreSQL: pg_dump's
    custom format (restore with pg_restore); without pg_dump, prints the command to run.
    """
    url = load_settings().database_url
    if file.exists() and not force:
        raise CliError(f"{file} exists; pass --force to overwrite it", 2)
    try:
        info = _backup(url, file)
    except BackupError as exc:
        raise CliError(str(exc), 1) from None
    except OSError as exc:
        raise CliError(f"cannot write {file}: {exc.strerror or exc}", 1) from None
    except SQLAlchemyError as exc:
        raise CliError(f"the copy {file} cannot be read: {type(exc).__name__}", 1) from None
    for line in _describe(info):
        typer.echo(line)


def _backup(url: str, file: Path) -> BackupInfo:
    if is_sqlite(url):
        return asyncio.run(backup_sqlite(url, file))
    program = shutil.which("pg_dump")
    if program is None:
        command = pg_dump_command(url, file).display()
        raise CliError(f"pg_dump is not on PATH; install it, or run: {command}", 2)
    return _on_database(url, lambda db: backup_postgres(db, file, program=program))


def _describe(info: BackupInfo) -> list[str]:
    head = (
        f"audit head: row {info.head.id} {info.head.hash}"
        if info.head
        else "audit head: none (empty chain)"
    )
    return [
        f"wrote {info.path} ({info.size:,} bytes)",
        f"schema revision: {info.revision or 'none'}",
        head,
    ]


@db_app.command("check")
def db_check(head: HeadOption = None, head_file: HeadFileOption = None) -> None:
    """After a restore: is the schema this Aftercare's head, and is the audit chain intact?

    One line per check; exit 1 if any fails.
    """
    expected = expected_head(head, head_file)
    url = load_settings().database_url
    _require_sqlite_file(url)

    async def work(db: Database) -> list[tuple[str, bool, str]]:
        results = [await _check_schema(db)]
        results.append(await _check_chain(db))
        if expected is not None:
            results.append(("audit head", *await check_head(db, expected)))
        return results

    results = _on_database(url, work)
    for name, ok, text in results:
        typer.echo(f"{name}: {'ok' if ok else 'FAILED'}, {text}")
    failed = [name for name, ok, _ in results if not ok]
    if failed:
        raise CliError(f"database check failed: {', '.join(failed)}", 1)


def _require_sqlite_file(url: str) -> None:
    """Refuse a SQLite URL whose file is missing (opening it would create an empty one)."""
    if not is_sqlite(url):
        return
    try:
        path = sqlite_file(url)
    except BackupError as exc:
        raise CliError(str(exc), 2) from None
    if not path.is_file():
        raise CliError(f"{path}: no such database file", 1)


async def _check_schema(db: Database) -> tuple[str, bool, str]:
    revision = await current_revision(db)
    head = head_revision()
    if revision == head:
        return "schema", True, f"at revision {revision}, this Aftercare's head"
    found = f"is at revision {revision}" if revision else "has no schema"
    return "schema", False, f"the database {found}, but this Aftercare's head is {head}"


async def _check_chain(db: Database) -> tuple[str, bool, str]:
    try:
        result = await audit.verify_database(db)
    except SQLAlchemyError as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        return "audit chain", False, f"cannot be read: {type(exc).__name__}: {first}"[:200]
    if not result.ok:
        return "audit chain", False, f"broken at row {result.first_bad_id}: {result.problem}"
    return "audit chain", True, f"{result.checked} rows, every link intact"


def main() -> None:
    """Run `db_app` on its own (`python -m bot.cli.db`), failing the way `aftercare` does."""
    run_group(db_app)


if __name__ == "__main__":
    main()
