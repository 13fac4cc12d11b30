"""`aftercare report`: the clinic's monthly report as one CSV file per table in a directory
(the same rows as the console's downloads)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.support import CliError, clinic_of, with_context
from bot.context import AppContext
from bot.domain.reports.month import MonthRefused, parse_month
from bot.services.reaching.monthly_report import TABLES, monthly_report, table_rows


def report_command(
    clinic: Annotated[str, typer.Option(help="Clinic id.")],
    out: Annotated[Path, typer.Option(help="Directory for the files (created if missing).")],
    month: Annotated[
        str | None,
        typer.Option(
            metavar="YYYY-MM",
            help="The clinic's calendar month, in its time zone (default: the last complete "
            "month).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite files already in --out.")] = False,
) -> None:
    """Write the monthly report's tables (checkins.csv, checkins_by_week.csv, cases.csv,
    response_times.csv, mood_series.csv, without_safety_plan.csv) and print the rows in each."""
    names = [f"{table}.csv" for table in TABLES]
    if out.exists() and not out.is_dir():
        raise CliError(f"{out} exists and is not a directory", 1)
    present = [name for name in names if (out / name).exists()]
    if present and not force:
        raise CliError(f"{out / present[0]} already exists; use --force to overwrite", 1)

    async def work(ctx: AppContext) -> dict[str, list[tuple[object, ...]]]:
        config = clinic_of(ctx, clinic)
        try:
            chosen = parse_month(month, zone=config.zone, now=ctx.clock.now())
        except MonthRefused as exc:
            raise CliError(f"--month: {exc}", 2) from None
        async with ctx.db.transaction() as session:
            report = await monthly_report(session, clinic=config, month=chosen)
        return {f"{table}.csv": table_rows(report, table) for table in TABLES}

    tables = with_context(work)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, rows in tables.items():
            partial = out / f".{name}.partial"
            with partial.open("w", encoding="utf-8", newline="") as stream:
                csv.writer(stream).writerows(rows)
            partial.replace(out / name)
    except OSError as exc:
        raise CliError(f"cannot write to {out}: {exc.strerror or exc}", 1) from None
    for name, rows in tables.items():
        typer.echo(f"{out / name}: {len(rows) - 1} rows")
