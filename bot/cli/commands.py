"""The `aftercare` command line (Typer). Every failure is one clear line and a non-zero exit."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.audit import audit_app
from bot.cli.console import console_app
from bot.cli.db import db_app
from bot.cli.demo import demo_command
from bot.cli.export import export_app
from bot.cli.instrument import instrument_app
from bot.cli.intake import intake_app
from bot.cli.keys import keys_app
from bot.cli.oncall import oncall_app
from bot.cli.people import clinician_app, infusion_app, patient_app
from bot.cli.privacy import erase_command, hold_command
from bot.cli.report import report_command
from bot.cli.retention import retention_app
from bot.cli.support import CliError, clinic_of, load_settings, parse_time, with_context
from bot.cli.webhook import webhook_app
from bot.clinic_config import ConfigError, parse_clinics
from bot.context import AppContext
from bot.crypto.keys import KeyProblem
from bot.domain.schedule import checkin_label, plan_checkins
from bot.services.clinic.settings_shape import as_toml
from storage.engine import DatabaseUnavailable

app = typer.Typer(
    help="Aftercare: check-ins and on-call escalation between ketamine infusions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Clinic configuration.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(clinician_app, name="clinician")
patient_app.command("erase")(erase_command)
patient_app.command("hold")(hold_command)
app.add_typer(patient_app, name="patient")
app.add_typer(infusion_app, name="infusion")
app.add_typer(oncall_app, name="oncall")
app.add_typer(audit_app, name="audit")
app.add_typer(intake_app, name="intake")
app.add_typer(export_app, name="export")
app.add_typer(webhook_app, name="webhook")
app.add_typer(console_app, name="console")
app.add_typer(instrument_app, name="instrument")
app.add_typer(retention_app, name="retention")
app.add_typer(keys_app, name="keys")
app.command("demo")(demo_command)
app.command("report")(report_command)


@app.command()
def run(
    webhook_url: Annotated[
        str | None,
        typer.Option(
            "--webhook-url",
            help="Receive updates by webhook at this public URL instead of long polling "
            "(needs AFTERCARE_WEBHOOK_SECRET). Default AFTERCARE_WEBHOOK_URL.",
        ),
    ] = None,
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen",
            help="Address the webhook/health server binds. Default AFTERCARE_WEBHOOK_LISTEN.",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help="Port of the webhook server. Default AFTERCARE_WEBHOOK_PORT.",
        ),
    ] = None,
) -> None:
    """Run the bot: migrate the database, then long-poll Telegram (or take webhook posts)
    until SIGINT/SIGTERM."""
    from pydantic import ValidationError

    from bot.app import run as run_bot
    from bot.ops.logs import configure_logging, log_secrets
    from bot.settings import Settings

    settings = load_settings()
    options = {"webhook_url": webhook_url, "webhook_listen": listen, "webhook_port": port}
    overrides = {key: value for key, value in options.items() if value is not None}
    if overrides:
        try:
            settings = Settings.model_validate(settings.model_dump() | overrides)
        except ValidationError as exc:
            first = exc.errors()[0]
            flag = {"webhook_url": "--webhook-url", "webhook_listen": "--listen"}.get(
                str(first["loc"][0]), "--port"
            )
            raise CliError(f"{flag}: {first['msg']}", exit_code=2) from None
    configure_logging(settings.log_level, settings.log_format, secrets=log_secrets(settings))
    asyncio.run(run_bot(settings))


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


@config_app.command("export")
def config_export(
    clinic: Annotated[str, typer.Option(help="Clinic id.")],
    out: Annotated[
        Path | None, typer.Option(help="Write to this file instead of standard output.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite --out if it exists.")] = False,
) -> None:
    """Write a clinic's current settings (the console's newest version) as a clinic file."""
    if out is not None and out.exists() and not force:
        raise CliError(f"{out} exists; add --force to overwrite it", exit_code=2)

    async def work(ctx: AppContext) -> tuple[str, int]:
        found = clinic_of(ctx, clinic)
        return as_toml(found), ctx.settings_versions.get(clinic, 0)

    text, version = with_context(work)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"{out}: clinic {clinic} settings version {version}", err=True)


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
    except KeyProblem as exc:
        _fail(str(exc), 2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _fail("aborted", 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except typer.TyperException as exc:  # usage errors: unknown option, missing value...
        context = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and context is not None:
            typer.echo(context.get_help())
            sys.exit(0)
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        command = f" (see `{context.command_path} --help`)" if context is not None else ""
        _fail(f"{message}{command}", int(getattr(exc, "exit_code", 2)))


def _fail(message: str, code: int) -> None:
    typer.echo(f"aftercare: error: {message}", err=True)
    sys.exit(code)
