"""The `aftercare` command line (Typer). Every failure is one clear line and a non-zero exit."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.cli_audit import audit_app
from bot.cli_oncall import oncall_app
from bot.cli_people import clinician_app, infusion_app, patient_app
from bot.cli_support import CliError, load_settings, parse_time
from bot.clinic_config import ConfigError, parse_clinics
from bot.demo import demo_command
from bot.domain.schedule import checkin_label, plan_checkins
from storage.engine import Database, DatabaseUnavailable

app = typer.Typer(
    help="Aftercare: check-ins and on-call escalation between ketamine infusions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
config_app = typer.Typer(help="Clinic configuration.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(clinician_app, name="clinician")
app.add_typer(patient_app, name="patient")
app.add_typer(infusion_app, name="infusion")
app.add_typer(oncall_app, name="oncall")
app.add_typer(audit_app, name="audit")
app.command("demo")(demo_command)


@app.command()
def run() -> None:
    """Run the bot: migrate the database, then long-poll Telegram until SIGINT/SIGTERM."""
    from bot.app import run as run_bot

    settings = load_settings()
    asyncio.run(run_bot(settings))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    from storage.migrate import upgrade

    settings = load_settings()

    async def go() -> str:
        db = Database(settings.database_url)
        try:
            return await upgrade(db)
        finally:
            await db.dispose()

    revision = asyncio.run(go())
    typer.echo(f"database at revision {revision}")


@config_app.command("check")
def config_check(
    path: Annotated[
        Path | None, typer.Argument(help="Clinic file; default AFTERCARE_CONFIG.")
    ] = None,
    at: Annotated[str | None, typer.Option(help="Sample infusion end (ISO-8601).")] = None,
) -> None:
    """Validate a clinic file and show the check-ins planned for a sample infusion."""
    if path is None:
        path = load_settings().config
    if not path.exists():
        raise CliError(f"{path}: no such file", exit_code=2)
    clinics = parse_clinics(path.read_text(encoding="utf-8"), source=str(path))
    sample = parse_time(at, default=datetime.now(UTC).replace(second=0, microsecond=0))
    typer.echo(f"{path}: OK, {len(clinics.clinics)} clinic(s)")
    for clinic in clinics.clinics:
        zone = clinic.zone
        typer.echo(f"\n{clinic.id} — {clinic.name} ({clinic.timezone})")
        typer.echo(f"  sample infusion ended {sample.astimezone(zone):%a %d %b %Y %H:%M %Z}")
        for name in clinic.protocols:
            typer.echo(
                f"  protocol {name}{' (default)' if name == clinic.default_protocol else ''}:"
            )
            plan = plan_checkins(
                infusion_at=sample, protocol=clinic.protocol(name), zone=zone, quiet=clinic.quiet()
            )
            for item in plan:
                moved = " (moved out of quiet hours)" if item.due_at != item.nominal_at else ""
                label = checkin_label(item.kind, item.offset, item.day)
                typer.echo(
                    f"    {item.due_at.astimezone(zone):%a %d %b %H:%M:%S %Z}  {label}{moved}"
                )


def main() -> None:
    """Console entry point: run Typer, turn known failures into one line and an exit code."""
    from bot.app import StartupError

    try:
        app(standalone_mode=False)
    except ConfigError as exc:
        _fail(str(exc), 2)
    except (CliError, StartupError) as exc:
        _fail(str(exc), exc.exit_code)
    except DatabaseUnavailable as exc:
        _fail(str(exc), 1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _fail("aborted", 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:  # click usage errors and the unexpected
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


def _fail(message: str, code: int) -> None:
    typer.echo(f"aftercare: error: {message}", err=True)
    sys.exit(code)
