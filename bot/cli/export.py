"""`aftercare export csv`: a clinic's data as CSV files in a directory (audited)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.support import CliError, with_context
from bot.context import AppContext
from bot.services.clinic.export import DirectoryTarget, ExportError, export_clinic, parse_since
from storage.states import CLI

export_app = typer.Typer(help="Exports of a clinic's data.", no_args_is_help=True)


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
) -> None:
    """Write patients.csv, infusions.csv, checkins.csv and cases.csv (UTF-8, times in
    ISO-8601 UTC) and print the rows in each. Every export is recorded in the audit log."""
    target = DirectoryTarget(out, force=force)
    try:
        target.check()
    except ExportError as exc:
        raise CliError(str(exc), 1) from None

    async def work(ctx: AppContext) -> dict[str, int]:
        try:
            config = ctx.clinics.clinic(clinic)
        except KeyError:
            known = ", ".join(c.id for c in ctx.clinics.clinics)
            raise CliError(f"no clinic {clinic!r} (known: {known})", 2) from None
        try:
            start = parse_since(since or "", config.zone)
        except ExportError as exc:
            raise CliError(f"--since: {exc}", 2) from None
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
                )
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
