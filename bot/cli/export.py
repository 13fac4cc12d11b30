"""`aftercare export csv`: a clinic's data as CSV files in a directory; `aftercare export fhir`:
as one FHIR R4B Bundle in a file (both audited)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.support import CliError, clinic_of, with_context
from bot.clinic_config import ClinicConfig
from bot.context import AppContext
from bot.services.clinic.export import (
    DirectoryTarget,
    ExportError,
    UnknownPatient,
    export_clinic,
    parse_since,
)
from bot.services.clinic.fhir_export import export_fhir
from storage.states import CLI

export_app = typer.Typer(help="Exports of a clinic's data.", no_args_is_help=True)


def _clinic_and_since(
    ctx: AppContext, clinic: str, since: str | None
) -> tuple[ClinicConfig, datetime | None]:
    config = clinic_of(ctx, clinic)
    try:
        return config, parse_since(since or "", config.zone)
    except ExportError as exc:
        raise CliError(f"--since: {exc}", 2) from None


@export_app.command("csv")
def export_csv(
    clinic: Annotated[str, typer.Option(help="Clinic id.")],
    out: Annotated[Path, typer.Option(help="Directory for the files (created if missing).")],
    since: Annotated[
        str | None,
        typer.Option(
            metavar="DATE",
            help="Only infusions ended, check-ins due and cases opened on or after this day "
            "(YYYY-MM-DD, in the clinic's time zone) or time (ISO-8601). Every patient is "
            "listed.",
        ),
    ] = None,
    free_text: Annotated[
        bool,
        typer.Option(
            "--free-text",
            help="Also export free text: names, emergency contacts, check-in notes, case "
            "reasons, the patient's quoted words, resolution notes.",
        ),
    ] = False,
    force: Annotated[bool, typer.Option(help="Overwrite files already in --out.")] = False,
    patient: Annotated[
        str | None,
        typer.Option(
            metavar="REF",
            help="Only this patient (their reference): their rows in every file, e.g. their "
            "record before an erasure.",
        ),
    ] = None,
) -> None:
    """Write patients.csv, infusions.csv, checkins.csv, cases.csv, messages.csv and
    safety_plans.csv (UTF-8, times in ISO-8601 UTC) and print the rows in each. Every export
    is recorded in the audit log."""
    target = DirectoryTarget(out, force=force)
    try:
        target.check()
    except ExportError as exc:
        raise CliError(str(exc), 1) from None

    async def work(ctx: AppContext) -> dict[str, int]:
        config, start = _clinic_and_since(ctx, clinic, since)
        try:
            async with ctx.db.transaction() as session:
                exported = await export_clinic(
                    session,
                    clinic_id=config.id,
                    since=start,
                    free_text=free_text,
                    opener=target.open,
                    actor=CLI,
                    now=ctx.clock.now(),
                    via="cli",
                    patient_ref=patient,
                )
        except UnknownPatient as exc:
            target.discard()
            raise CliError(f"--patient: {exc}", 2) from None
        except BaseException:
            target.discard()
            raise
        target.finish()
        return exported.rows

    try:
        rows = with_context(work)
    except OSError as exc:
        raise CliError(f"cannot write to {out}: {exc.strerror or exc}", 1) from None
    for name, count in rows.items():
        typer.echo(f"{out / name}: {count} rows")


@export_app.command("fhir")
def export_fhir_command(
    clinic: Annotated[str, typer.Option(help="Clinic id.")],
    out: Annotated[Path, typer.Option(help="File for the Bundle (JSON).")],
    patient: Annotated[
        str | None, typer.Option(metavar="REF", help="Only this patient (their reference).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            metavar="DATE",
            help="Only check-ins due and cases opened on or after this day (YYYY-MM-DD, in "
            "the clinic's time zone) or time (ISO-8601). Every patient is listed.",
        ),
    ] = None,
    transaction: Annotated[
        bool,
        typer.Option(
            "--transaction",
            help="A transaction Bundle (each entry a conditional PUT by identifier) instead "
            "of a collection.",
        ),
    ] = False,
    force: Annotated[bool, typer.Option(help="Overwrite --out if it exists.")] = False,
) -> None:
    """Write the clinic's patients, C-SSRS answers, risk levels, moods and cases as one FHIR
    R4B Bundle (README, "FHIR export") and print the resources of each type. Audited."""
    if out.exists() and (out.is_dir() or not force):
        what = "is a directory" if out.is_dir() else "already exists; use --force to overwrite"
        raise CliError(f"{out} {what}", 1)

    async def work(ctx: AppContext) -> dict[str, int]:
        config, start = _clinic_and_since(ctx, clinic, since)
        partial = out.with_name(f".{out.name}.partial")
        try:
            async with ctx.db.transaction() as session:
                exported = await export_fhir(
                    session,
                    clinic_id=config.id,
                    names=config.alerts_include_name,
                    patient_ref=patient,
                    since=start,
                    transaction=transaction,
                    actor=CLI,
                    now=ctx.clock.now(),
                    via="cli",
                )
                out.parent.mkdir(parents=True, exist_ok=True)
                partial.write_text(exported.json, encoding="utf-8")
        except UnknownPatient as exc:
            raise CliError(f"--patient: {exc}", 2) from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(out)
        return exported.resources

    try:
        counts = with_context(work)
    except OSError as exc:
        raise CliError(f"cannot write to {out}: {exc.strerror or exc}", 1) from None
    typer.echo(f"{out}: {sum(counts.values())} resources")
    for kind, count in counts.items():
        typer.echo(f"  {kind}: {count}")
