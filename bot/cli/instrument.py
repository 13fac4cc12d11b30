"""`aftercare instrument list|install|check`: a clinic's licensed instrument translations.

Aftercare ships no C-SSRS translation (CLINICAL.md §13): a clinic that holds one installs it
as a file with its provenance, and only then can patients be enrolled in that language."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.support import CliError, with_context
from bot.context import AppContext
from bot.domain import instruments
from bot.i18n import catalogued
from bot.i18n.names import language_label
from bot.instrument_files.check import TranslationFile
from bot.services.clinic.instruments import InstrumentRefused, check, install, installed
from storage.models import InstrumentFile

instrument_app = typer.Typer(
    help="Installed instrument translations (licensed files with their provenance).",
    no_args_is_help=True,
)

FILE_HELP = "The instrument file (TOML): the English file's format, language and [provenance]."


def _read(path: Path) -> str:
    if not path.is_file():
        raise CliError(f"{path}: no such file", 2)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CliError(f"{path}: not UTF-8 text", 2) from None
    except OSError as exc:
        raise CliError(f"{path}: cannot be read ({exc.strerror})", 2) from None


def _checked(path: Path, content: str) -> TranslationFile:
    try:
        return check(content)
    except InstrumentRefused as exc:
        raise CliError(f"{path}: refused: {exc}", 2) from None


def _describe(file: TranslationFile) -> list[str]:
    provenance = file.provenance
    lines = [
        f"{file.instrument_id} {file.version} in {language_label(file.language)}"
        + (" — TEST ONLY" if provenance.test_only else ""),
        f"  source: {provenance.source}",
        f"  licence: {provenance.licence}",
        f"  translated on: {provenance.translated_on}",
        f"  sha256: {file.sha256}",
    ]
    if file.language not in catalogued():
        lines.append(
            f"  note: Aftercare's own texts have no catalogue in {language_label(file.language)} "
            "yet; patients cannot be enrolled in it until they do"
        )
    return lines


@instrument_app.command("check")
def instrument_check(path: Annotated[Path, typer.Argument(help=FILE_HELP)]) -> None:
    """Check a file against the installed English source without installing it (exit 2 if
    refused)."""
    checked = _checked(path, _read(path))
    typer.echo(f"{path}: OK")
    for line in _describe(checked):
        typer.echo(line)


@instrument_app.command("install")
def instrument_install(
    path: Annotated[Path, typer.Argument(help=FILE_HELP)],
    by: Annotated[str, typer.Option("--by", help="Who installs it (recorded and audited).")],
) -> None:
    """Install a licensed translation (replacing the same instrument version and language);
    every instance uses it from its next settings poll."""
    content = _read(path)
    checked = _checked(path, content)

    async def work(ctx: AppContext) -> InstrumentFile:
        try:
            async with ctx.db.transaction() as session:
                return await install(session, content=content, installed_by=by, now=ctx.clock.now())
        except InstrumentRefused as exc:
            raise CliError(f"{path}: refused: {exc}", 2) from None

    row = with_context(work)
    typer.echo(f"installed by {row.installed_by} at {row.installed_at:%Y-%m-%d %H:%M %Z}:")
    for line in _describe(checked):
        typer.echo(line)


@instrument_app.command("list")
def instrument_list() -> None:
    """Every installed translation with its provenance, and whether it is in use here."""

    async def work(ctx: AppContext) -> list[InstrumentFile]:
        async with ctx.db.transaction() as session:
            return await installed(session)

    rows = with_context(work)
    if not rows:
        typer.echo("no instrument translation installed (English only)")
        return
    for row in rows:
        used = instruments.has_cssrs(row.language) and (
            instruments.cssrs(row.language).version == row.version
        )
        flags = [" TEST ONLY" if row.test_only else "", "" if used else " NOT IN USE"]
        typer.echo(
            f"{row.instrument_id} {row.version} {language_label(row.language)}{''.join(flags)}"
        )
        typer.echo(f"  source: {row.source}")
        typer.echo(f"  licence: {row.licence}")
        typer.echo(f"  translated on: {row.translated_on}")
        typer.echo(f"  installed by {row.installed_by} at {row.installed_at:%Y-%m-%d %H:%M %Z}")
