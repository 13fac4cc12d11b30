"""What every CLI command shares: settings, the prepared app context, one-line failures."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import typer
from pydantic import ValidationError

from bot.clinic_config import ClinicConfig
from bot.context import AppContext
from bot.crypto.keys import KeyProblem
from bot.ops.logs import configure_logging, log_secrets
from bot.settings import Settings
from storage.engine import DatabaseUnavailable

T = TypeVar("T")


class CliError(Exception):
    """A user-facing failure: printed as one line, exit code attached."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def clinic_of(ctx: AppContext, clinic_id: str) -> ClinicConfig:
    """The clinic named on the command line, or exit 2 naming the clinics there are."""
    try:
        return ctx.clinics.clinic(clinic_id)
    except KeyError:
        known = ", ".join(c.id for c in ctx.clinics.clinics)
        raise CliError(f"no clinic {clinic_id!r} (known: {known})", 2) from None


def load_settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        key = "AFTERCARE_" + "_".join(str(p) for p in first["loc"]).upper()
        raise CliError(f"setting {key}: {first['msg']}", exit_code=2) from None
    configure_logging(
        settings.log_level,
        settings.log_format,
        secrets=log_secrets(settings),
    )
    return settings


def with_context(work: Callable[[AppContext], Awaitable[T]]) -> T:
    """Load settings and clinics, migrate, run `work`, and always close the database."""
    from bot.app import prepare

    settings = load_settings()

    async def go() -> T:
        ctx = await prepare(settings, apply_file=False)  # only `run` applies the clinic file
        try:
            return await work(ctx)
        finally:
            await ctx.db.dispose()

    return asyncio.run(go())


def parse_time(value: str | None, *, default: datetime) -> datetime:
    """An ISO-8601 time; one without an offset is taken as UTC."""
    if value is None:
        return default
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(
            f"not an ISO-8601 time: {value!r} (e.g. 2026-11-26T09:30+01:00)", exit_code=2
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run_group(group: typer.Typer) -> None:
    """Run one command group on its own (`python -m bot.cli.db ...`), failing the way
    `aftercare` does: one line, an exit code. It never imports the bot application."""
    try:
        group(standalone_mode=False)
    except (CliError, DatabaseUnavailable, KeyProblem) as exc:
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
