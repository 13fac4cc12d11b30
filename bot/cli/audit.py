"""CLI commands for the hash-chained audit log: verify it, show it.

Both are read-only: unlike the other commands they neither migrate the database nor load
the clinic configuration, so reading the log never appends to it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col

from bot.cli.support import CliError, load_settings, run_group
from bot.database import open_db
from bot.ops.audit_head import HeadFileError, read_last
from storage import audit
from storage.engine import Database
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
        db = open_db(settings)
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


HEX64 = re.compile(r"[0-9a-f]{64}")

HeadOption = Annotated[
    str | None,
    typer.Option(
        "--head",
        metavar="HASH",
        help="Also fail unless the row with this hash (a head published earlier) is still "
        "in the chain.",
    ),
]
HeadFileOption = Annotated[
    Path | None,
    typer.Option(
        "--head-file",
        metavar="PATH",
        help="Like --head, with the last head in this file (AFTERCARE_AUDIT_HEAD_FILE).",
    ),
]


def expected_head(head: str | None, head_file: Path | None) -> str | None:
    """The head hash to look for, from --head or the last line of --head-file."""
    if head is not None and head_file is not None:
        raise CliError("give --head or --head-file, not both", 2)
    if head_file is not None:
        try:
            return read_last(head_file).hash
        except HeadFileError as exc:
            raise CliError(str(exc), 2) from None
    if head is not None and not HEX64.fullmatch(head.strip().lower()):
        raise CliError(f"--head: not a 64-character hex hash: {head[:80]!r}", 2)
    return head.strip().lower() if head is not None else None


async def check_head(db: Database, hash_: str) -> tuple[bool, str]:
    """Whether the row with `hash_` is in the chain, and one line saying so."""
    async with db.transaction() as session:
        position = await audit.locate(session, hash_)
    short = f"{hash_[:12]}…"
    if position is None:
        return False, (
            f"the head {short} is not in the chain: rows at or before it were deleted or altered"
        )
    rows = "1 row" if position.rows_after == 1 else f"{position.rows_after} rows"
    return True, f"the head {short} is row {position.id}; {rows} came after it"


@audit_app.command("verify")
def verify(head: HeadOption = None, head_file: HeadFileOption = None) -> None:
    """Check the whole hash chain; exit 1 naming the first broken row.

    Deleting the newest rows leaves a valid, shorter chain: only a head recorded earlier
    (--head, --head-file) shows it.
    """
    expected = expected_head(head, head_file)

    async def work(db: Database) -> tuple[audit.VerifyResult, tuple[bool, str] | None]:
        result = await audit.verify_database(db)
        if not result.ok or expected is None:
            return result, None
        return result, await check_head(db, expected)

    result, head_result = _with_db(work)
    if not result.ok:
        raise CliError(f"audit log broken at row {result.first_bad_id}: {result.problem}", 1)
    if head_result is not None and not head_result[0]:
        raise CliError(f"audit log truncated or rewritten: {head_result[1]}", 1)
    typer.echo(f"audit log intact: {result.checked} rows")
    if head_result is not None:
        typer.echo(head_result[1])


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
    run_group(audit_app)


if __name__ == "__main__":
    main()
