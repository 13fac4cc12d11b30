"""A clinic's installed instrument translations: install one with its provenance, list them,
load them into use, and say which languages a check-in can be offered in (CLINICAL.md §13).

Files live in the database (`InstrumentFile`), so every instance serves the same ones: each
loads them at start-up and again at every settings poll. A stored file is checked again each
time it is loaded; one that no longer passes (the English source moved to a new version, say)
is skipped with a warning, so the check-in is not offered in its language rather than offered
in a translation of another version.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import instruments
from bot.i18n import catalogued
from bot.instrument_files.check import (
    TranslationFile,
    check_translation,
    refusal,
    sha256_of,
)
from storage import audit
from storage.languages.instruments import (
    add_instrument_file,
    instrument_file,
    instrument_file_keys,
    instrument_files,
)
from storage.models import InstrumentFile
from storage.states import CLI, Actor

log = logging.getLogger(__name__)

MAX_INSTALLER = 120  # InstrumentFile.installed_by

# (row id, sha256) of stored files already warned about: the poll reloads every few seconds
_warned: set[tuple[int | None, str]] = set()
_loaded_keys: list[frozenset[tuple[int, str]] | None] = [None]  # what the last load read


class InstrumentRefused(Exception):
    """A file that cannot be installed; each problem is one sentence, all safe to show."""

    def __init__(self, problems: tuple[str, ...]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


def check(content: str) -> TranslationFile:
    """The file checked against the installed English source; InstrumentRefused otherwise."""
    checked = check_translation(content, source=instruments.cssrs())
    if checked.file is None:
        raise InstrumentRefused(checked.problems)
    return checked.file


async def install(
    session: AsyncSession,
    *,
    content: str,
    installed_by: str,
    now: datetime,
    actor: Actor = CLI,
) -> InstrumentFile:
    """Store a checked file (in place of an earlier one of the same instrument version and
    language) and audit it with its provenance, never its text. It is used from the next load
    (`load_installed`: this instance's next settings poll, and every other's)."""
    by = installed_by.strip()
    if not by or len(by) > MAX_INSTALLER:
        raise InstrumentRefused(
            (f"Name who installs the file (--by), in 1 to {MAX_INSTALLER} characters.",)
        )
    checked = check(content)
    row = await instrument_file(
        session,
        instrument_id=checked.instrument_id,
        version=checked.version,
        language=checked.language,
    )
    replaced = row is not None
    if row is None:
        row = InstrumentFile(
            instrument_id=checked.instrument_id,
            version=checked.version,
            language=checked.language,
            content="",
            sha256="",
            source="",
            licence="",
            translated_on="",
            installed_by=by,
            installed_at=now,
        )
    provenance = checked.provenance
    row.content, row.sha256 = content, checked.sha256
    row.source, row.licence = provenance.source, provenance.licence
    row.translated_on, row.test_only = provenance.translated_on, provenance.test_only
    row.installed_by, row.installed_at = by, now
    row = await add_instrument_file(session, row=row)
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="instrument.installed",
        detail={
            "instrument": row.instrument_id,
            "version": row.version,
            "language": row.language,
            "sha256": row.sha256,
            "source": row.source,
            "licence": row.licence,
            "translated_on": row.translated_on,
            "test_only": row.test_only,
            "installed_by": by,
            "replaced": replaced,
        },
    )
    return row


async def installed(session: AsyncSession) -> list[InstrumentFile]:
    """Every installed file with its provenance, by instrument, version and language."""
    return await instrument_files(session)


async def refresh_installed(session: AsyncSession) -> tuple[str, ...] | None:
    """The settings poll's look (every few seconds on every instance): the installed files are
    read, checked and loaded again only when what is installed changed since the last load
    (one small read of ids and hashes otherwise); None when nothing changed."""
    if await instrument_file_keys(session) == _loaded_keys[0]:
        return None
    return await load_installed(session)


async def load_installed(session: AsyncSession) -> tuple[str, ...]:
    """Use every stored file that still passes; the languages now in use. Never raises for a
    file: one that fails is logged (once per content) and skipped."""
    source = instruments.cssrs()
    loaded: list[str] = []
    rows = await instrument_files(session)
    _loaded_keys[0] = frozenset((row.id or 0, row.sha256) for row in rows)
    for row in rows:
        checked = check_translation(row.content, source=source)
        problems = list(checked.problems)
        if checked.file is not None and checked.file.language != row.language:
            problems.append(f"It says language {checked.file.language}, stored as {row.language}.")
        if sha256_of(row.content) != row.sha256:
            problems.append("Its content does not match the sha256 recorded at install.")
        if checked.file is None or problems:
            _warn(row, problems)
            continue
        try:
            translated = instruments.cssrs_from(dict(checked.file.data))
        except (KeyError, TypeError, ValueError, AssertionError) as exc:
            _warn(row, [f"It could not be read as the instrument: {exc!r}."])
            continue
        instruments.install_cssrs(row.language, translated)
        loaded.append(row.language)
    return tuple(loaded)


def _warn(row: InstrumentFile, problems: list[str]) -> None:
    key = (row.id, row.sha256)
    if key in _warned:
        return
    _warned.add(key)
    log.warning(
        "instrument.unusable instrument=%s version=%s language=%s problems=%s",
        row.instrument_id,
        row.version,
        row.language,
        " ".join(problems),
    )


def language_refusal(language: str) -> str | None:
    """Why a patient cannot be enrolled in `language`, naming what is missing; None if they can."""
    return refusal(language, cssrs_languages=instruments.cssrs_languages(), catalogued=catalogued())
