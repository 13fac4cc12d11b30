"""CLI commands for the on-call roster: add a shift, show who is on call."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from bot.cli.support import CliError, parse_time, with_context
from bot.clinic_config import ClinicConfig
from bot.context import AppContext
from bot.services.oncall import OnCallError, add_shift, roster, who_is_on_call
from storage.models import Clinician
from storage.states import CLI

oncall_app = typer.Typer(help="On-call roster.", no_args_is_help=True)

ACTOR = CLI
SHOW_DAYS = 7
TIME_HELP = "ISO-8601; without an offset it is UTC (e.g. 2026-11-26T20:00-05:00)."


def _clinic(ctx: AppContext, clinic_id: str) -> ClinicConfig:
    try:
        return ctx.clinics.clinic(clinic_id)
    except KeyError:
        known = ", ".join(c.id for c in ctx.clinics.clinics)
        raise CliError(
            f"no clinic {clinic_id!r} in {ctx.clinics.source} (known: {known})", 2
        ) from None


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%a %d %b %Y %H:%M %Z}"


@oncall_app.command("add")
def oncall_add(
    clinic: Annotated[str, typer.Option(help="Clinic id.")],
    clinician: Annotated[str, typer.Option(help="The clinician's registered name.")],
    from_: Annotated[str, typer.Option("--from", help=f"Shift start; {TIME_HELP}")],
    to: Annotated[str, typer.Option("--to", help=f"Shift end; {TIME_HELP}")],
    backup: Annotated[bool, typer.Option("--backup", help="A backup shift, not primary.")] = False,
) -> None:
    """Add a primary (or --backup) shift; it takes precedence over the rotation."""

    async def work(ctx: AppContext) -> str:
        config = _clinic(ctx, clinic)
        now = ctx.clock.now()
        starts, ends = parse_time(from_, default=now), parse_time(to, default=now)
        try:
            async with ctx.db.transaction() as session:
                shift, who = await add_shift(
                    session,
                    clinic=config,
                    clinician_name=clinician,
                    starts_at=starts,
                    ends_at=ends,
                    now=now,
                    actor=ACTOR,
                    role="backup" if backup else "primary",
                )
        except OnCallError as exc:
            raise CliError(str(exc), 2) from None
        return (
            f"shift {shift.id}: {who.name} is {shift.role} on-call for {config.name} from "
            f"{_local(starts, config.zone)} to {_local(ends, config.zone)}"
        )

    typer.echo(with_context(work))


def _name(clinician_id: int | None, names: dict[int, str]) -> str:
    if clinician_id is None:
        return "nobody"
    return names.get(clinician_id, f"clinician {clinician_id}")


@oncall_app.command("show")
def oncall_show(
    clinic: Annotated[str, typer.Option(help="Clinic id.")],
    at: Annotated[str | None, typer.Option(help=f"When; default now. {TIME_HELP}")] = None,
) -> None:
    """Print the primary and backup at a time, and the shifts of the next 7 days."""

    async def work(ctx: AppContext) -> list[str]:
        config = _clinic(ctx, clinic)
        moment = parse_time(at, default=ctx.clock.now())
        zone = config.zone
        async with ctx.db.transaction() as session:
            current = await who_is_on_call(session, clinic=config, at=moment)
            entries = await roster(
                session, clinic=config, start=moment, end=moment + timedelta(days=SHOW_DAYS)
            )
            names: dict[int, str] = {}
            for clinician_id in (current.primary, current.backup):
                if clinician_id is not None:
                    row = await session.get(Clinician, clinician_id)
                    names[clinician_id] = row.name if row else "?"
        lines = [
            f"{config.name} ({config.id}) at {_local(moment, zone)}:",
            f"  primary: {_name(current.primary, names)}",
            f"  backup:  {_name(current.backup, names)}",
        ]
        if current.primary is None and current.backup is None:
            lines.append("  NOBODY IS ON CALL at this time.")
        lines.append(f"shifts in the next {SHOW_DAYS} days ({config.timezone}):")
        for entry in entries:
            shift = entry.shift
            lines.append(
                f"  {_local(shift.starts_at, zone)} – {_local(shift.ends_at, zone)}  "
                f"{shift.role:<7}  {entry.name}  ({entry.source})"
            )
        if not entries:
            lines.append("  (none)")
        return lines

    for line in with_context(work):
        typer.echo(line)
