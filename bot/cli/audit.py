"""CLI commands for the hash-chained audit log: verify it, show it.

Both are read-only: unlike the other commands they neither migrate the database nor load
the clinic configuration, so reading the log never appends to it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Annotated, TypeVar

import typer
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col

from bot.cli.support import CliError, load_settings
from storage import audit
from storage.engine import Database, DatabaseUnavailable
from storage.migrate import current_revision
from storage.models import AuditEvent, Patient
from storage.patients import patient_by_ref, patients_by_ref

T = TypeVar("T")

audit_app = typer.Typer(
    help="The tamper-evident audit log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _with_db(work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` against the configured database, which must already have its schema."""
    settings = load_settings()

    async def go() -> T:
        db = Database(settings.database_url)
        try:
            if await current_revision(db) is None:
                raise CliError(
                    f"database {db.redacted_url()} has no schema; run `aftercare db upgrade`", 1
                )
            return await work(db)
        except (SQLAlchemyError, OSError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise CliError(
                f"database {db.redacted_url()} cannot be read: {type(exc).__name__}: {first}", 1
            ) from None
        finally:
            await db.dispose()

    return asyncio.run(go())


@audit_app.command("verify")
def verify() -> None:
    """Check the whole hash chain; exit 1 naming the first broken row.

    A deletion of the newest rows leaves a valid, shorter chain and cannot be detected
    here: compare the printed row count with one recorded earlier.
    """
    result = _with_db(audit.verify_database)
    if not result.ok:
        raise CliError(f"audit log broken at row {result.first_bad_id}: {result.problem}", 1)
    typer.echo(f"audit log intact: {result.checked} rows")


async def _find_patient(db: Database, ref: str, clinic: str | None) -> Patient:
    async with db.transaction() as session:
        if clinic is not None:
            found = await patient_by_ref(session, clinic_id=clinic, ref=ref)
            matches = [found] if found else []
        else:
            matches = await patients_by_ref(session, ref=ref)
    if not matches:
        where = f" in clinic {clinic!r}" if clinic is not None else ""
        raise CliError(f"no patient {ref!r}{where}", 1)
    if len(matches) > 1:
        raise CliError(f"patient {ref!r} exists in several clinics; add --clinic", 2)
    return matches[0]


def format_event(event: AuditEvent, refs: dict[int, str]) -> str:
    """One line: id, UTC time, actor, event, patient ref (or -), detail JSON."""
    ref = "-"
    if event.patient_id is not None:
        ref = refs.get(event.patient_id, f"#{event.patient_id}")
    at = event.at.astimezone(UTC).isoformat()
    return f"{event.id}\t{at}\t{event.actor}\t{event.event}\t{ref}\t{event.detail}"


@audit_app.command("show")
def show(
    patient: Annotated[str | None, typer.Option(help="Only this patient's events (ref).")] = None,
    clinic: Annotated[
        str | None, typer.Option(help="Only this clinic's events; disambiguates --patient.")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most N events (oldest first).")
    ] = None,
) -> None:
    """Print events oldest first: id, UTC time, actor, event, patient ref, detail JSON."""

    async def work(db: Database) -> list[str]:
        patient_id = None
        if patient is not None:
            patient_id = (await _find_patient(db, patient, clinic)).id
        async with db.transaction() as session:
            rows = await audit.events(
                session,
                patient_id=patient_id,
                clinic_id=None if patient is not None else clinic,
                limit=limit,
            )
            ids = {r.patient_id for r in rows if r.patient_id is not None}
            refs: dict[int, str] = {}
            if ids:
                found = await session.execute(
                    select(col(Patient.id), col(Patient.ref)).where(col(Patient.id).in_(ids))
                )
                refs = {pid: ref for pid, ref in found.all() if pid is not None}
        return [format_event(r, refs) for r in rows]

    for line in _with_db(work):
        typer.echo(line)


def main() -> None:
    """Run `audit_app` on its own, failing the way `aftercare` does: one line, an exit code."""
    try:
        audit_app(standalone_mode=False)
    except (CliError, DatabaseUnavailable) as exc:
        typer.echo(f"aftercare: error: {exc}", err=True)
        sys.exit(getattr(exc, "exit_code", 1))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
