"""Installed instrument translations (issue 29, CLINICAL.md §13): each rule that refuses a file,
one sentence naming what is wrong; an install stored with its provenance and audited without
its text; stored files loaded into use (a broken one skipped, never crashing); the languages a
check-in can be offered in; enrollment refused in a language without a translation."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.clinic_config import parse_clinics
from bot.domain import instruments
from bot.i18n.names import language_label
from bot.i18n.resolve import offered_languages
from bot.instrument_files.check import check_translation, offered, refusal
from bot.services.clinic import instruments as instrument_service
from bot.services.clinic.instruments import (
    InstrumentRefused,
    install,
    installed,
    language_refusal,
    load_installed,
)
from bot.services.enrollment import LanguageRefused, enroll_patient
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import AuditEvent, InstrumentFile
from storage.states import CLI

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "instruments"
PSEUDO_FILE = FIXTURE / "cssrs_screener_slc.en-XA.toml"
NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
CLINIC = """
[[clinics]]
id = "north"
name = "North"
timezone = "UTC"
contact_phone = "+1 555"
"""


@pytest.fixture(autouse=True)
def no_translations() -> Iterator[None]:
    """Every test starts and ends with English only in the process's instrument registry, and
    with no unusable file already warned about (the service warns once per process)."""
    for language in instruments.cssrs_languages():
        instruments.forget_cssrs(language)
    instrument_service._warned.clear()
    instrument_service._loaded_keys[0] = None
    yield
    for language in instruments.cssrs_languages():
        instruments.forget_cssrs(language)


def _pseudo() -> str:
    return PSEUDO_FILE.read_text(encoding="utf-8")


def _problems(content: str) -> tuple[str, ...]:
    checked = check_translation(content, source=instruments.cssrs())
    assert checked.file is None
    return checked.problems


def _one(content: str, *fragments: str) -> str:
    """The file is refused for exactly one reason, a sentence holding every fragment."""
    (problem,) = _problems(content)
    assert problem.endswith(".") and problem[0].isupper()
    for fragment in fragments:
        assert fragment in problem, problem
    return problem


def test_the_pseudo_locale_fixture_passes_and_is_marked_test_only() -> None:
    checked = check_translation(_pseudo(), source=instruments.cssrs())
    assert checked.problems == ()
    assert checked.file is not None
    assert (checked.file.instrument_id, checked.file.version, checked.file.language) == (
        "cssrs-screener-slc",
        "2008-01-14",
        "en-XA",
    )
    assert checked.file.provenance.test_only is True
    assert "TEST FIXTURE" in checked.file.provenance.source
    assert re.fullmatch(r"[0-9a-f]{64}", checked.file.sha256)


@pytest.mark.parametrize("field", ["source", "licence", "translated_on"])
def test_each_missing_provenance_field_is_named(field: str) -> None:
    content = re.sub(rf"(?m)^{field} = .*\n", "", _pseudo())
    _one(content, f"The provenance has no {field}:")
    blank = re.sub(rf"(?m)^{field} = .*$", f'{field} = "  "', _pseudo())
    _one(blank, f"The provenance has no {field}:")


def test_a_file_without_provenance_is_refused() -> None:
    head, _, tail = _pseudo().partition("[provenance]")
    content = head + tail.split("\n\n", 1)[1]
    _one(content, "no [provenance] table", "source", "licence", "translated_on")


def test_the_pseudo_locale_must_say_test_only() -> None:
    _one(_pseudo().replace("test_only = true", "test_only = false"), "test_only = true")
    _one(_pseudo().replace("test_only = true", 'test_only = "yes"'), "true or false")


def test_a_translation_of_another_instrument_or_version_is_refused() -> None:
    _one(
        _pseudo().replace('version = "2008-01-14"', 'version = "2011-01-01"'),
        "2011-01-01",
        "another version",
    )
    _one(
        _pseudo().replace('id = "cssrs-screener-slc"', 'id = "phq-9"'),
        '"phq-9"',
        "cssrs-screener-slc",
    )
    _one(re.sub(r"(?m)^version = .*\n", "", _pseudo(), count=1), "no version")


def test_items_must_be_the_sources_in_its_order() -> None:
    swapped = _pseudo().replace('id = "s3"', 'id = "sX"').replace('id = "s4"', 'id = "s3"')
    problems = _problems(swapped.replace('id = "sX"', 'id = "s4"'))
    assert (
        problems[0].startswith('Item 3 is id "s4"') and 'source\'s item 3 is id "s3"' in problems[0]
    )
    assert problems[1].startswith('Item 4 is id "s3"')
    _one(
        _pseudo().replace('loinc = "93248-3"', 'loinc = "93248-4"'),
        'LOINC "93248-4"',
        'LOINC "93248-3"',
    )
    _one(_pseudo().replace("number = 5", "number = 7"), "Item 5 is", "number 7", "number 5")
    dropped = _pseudo().rsplit("[[items]]", 1)[0]
    _one(dropped, "The file has 5 items; the source has 6", "s1, s2, s3, s4, s5, s6")
    _one(_pseudo().split("[[items]]", 1)[0], "no [[items]]")


def test_every_text_must_be_there() -> None:
    no_text = re.sub(r'(?m)^text = "⟦Ĥàṽé ýöû ƀééñ.*\n', 'text = ""\n', _pseudo())
    _one(no_text, "Item 3 (s3) has no text.")
    _one(re.sub(r"(?m)^preamble = .*\n", "", _pseudo()), "no preamble")
    _one(re.sub(r"(?m)^attribution = .*\n", 'attribution = " "\n', _pseudo()), "no attribution")


@pytest.mark.parametrize(
    ("tag", "fragment"),
    [
        ("en", "is English, the source itself"),
        ("en-GB", "is English, the source itself"),
        ("e!", "is not a language tag"),
        ("zz", "not a language Aftercare knows"),
        ("spa", 'is written "es" in Aftercare'),
    ],
)
def test_the_language_must_be_another_real_one(tag: str, fragment: str) -> None:
    content = _pseudo().replace('language = "en-XA"', f'language = "{tag}"')
    _one(content.replace("test_only = true", "test_only = false"), fragment)
    missing = re.sub(r"(?m)^language = .*\n", "", _pseudo())
    _one(missing, "names no language")


def test_not_toml_is_one_sentence() -> None:
    _one("id = [", "not valid TOML")


def test_offered_languages_need_a_translation_and_a_catalogue() -> None:
    assert offered(("en",), ("en", "es", "en-XA")) == ("en",)
    assert offered(("en", "en-XA", "es"), ("en", "en-XA")) == ("en", "en-XA")
    assert offered(("en", "es"), ("en", "es", "en-XA")) == ("en", "es")
    assert refusal("es", cssrs_languages=("en",), catalogued=("en", "en-XA")) == (
        "Spanish (es) cannot be offered: no C-SSRS translation is installed "
        "(aftercare instrument install) and Aftercare's own texts have no catalogue in it."
    )
    assert refusal("es-MX", cssrs_languages=("en", "es"), catalogued=("en",)) == (
        "Spanish (es) cannot be offered: Aftercare's own texts have no catalogue in it."
    )
    assert refusal("en", cssrs_languages=("en",), catalogued=("en",)) is None
    assert language_label("en-XA") == "Pseudo-locale (en-XA)"
    assert language_label("es") == "Spanish (es)"


async def _clinic(db: Database) -> None:
    async with db.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("north", "North", "UTC", "x")], now=NOW)


async def test_install_stores_provenance_audits_without_text_and_replaces(db: Database) -> None:
    async with db.transaction() as session:
        row = await install(session, content=_pseudo(), installed_by="Dr Ada", now=NOW)
    assert (row.language, row.test_only, row.installed_by) == ("en-XA", True, "Dr Ada")
    assert instruments.cssrs_languages() == ("en",)  # in use from the next load, not before
    later = NOW.replace(hour=10)
    edited = _pseudo().replace('translated_on = "2008-01-14"', 'translated_on = "v2"')
    async with db.transaction() as session:
        await install(session, content=edited, installed_by="Dr Sol", now=later)
    async with db.transaction() as session:
        (stored,) = await installed(session)
        events = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.event == "instrument.installed")
            )
        ).all()
    assert (stored.translated_on, stored.installed_by, stored.installed_at) == (
        "v2",
        "Dr Sol",
        later,
    )
    assert stored.content == edited
    assert [e.actor for e in events] == [CLI, CLI]
    first, second = (json.loads(e.detail) for e in events)
    assert first["instrument"] == "cssrs-screener-slc" and first["version"] == "2008-01-14"
    assert (first["language"], first["sha256"], first["replaced"]) == ("en-XA", row.sha256, False)
    assert "TEST FIXTURE" in first["source"] and first["licence"].startswith("none")
    assert second["replaced"] is True and second["translated_on"] == "v2"
    for event in events:  # the instrument's words never reach the audit log
        assert "Ĥàṽé" not in event.detail and "⟦" not in event.detail


async def test_install_refuses_a_bad_file_and_stores_nothing(db: Database) -> None:
    with pytest.raises(InstrumentRefused, match="The provenance has no licence"):
        async with db.transaction() as session:
            await install(
                session,
                content=re.sub(r"(?m)^licence = .*\n", "", _pseudo()),
                installed_by="Dr Ada",
                now=NOW,
            )
    with pytest.raises(InstrumentRefused, match="--by"):
        async with db.transaction() as session:
            await install(session, content=_pseudo(), installed_by=" ", now=NOW)
    async with db.transaction() as session:
        assert await installed(session) == []


async def test_load_installed_uses_good_files_and_skips_a_broken_one(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    async with db.transaction() as session:
        await install(session, content=_pseudo(), installed_by="Dr Ada", now=NOW)
        # a row written past the service (or left by an older source version) that fails now
        broken = _pseudo().replace('language = "en-XA"', 'language = "fr"')
        broken = broken.replace('version = "2008-01-14"', 'version = "1999-01-01"')
        session.add(
            InstrumentFile(
                instrument_id="cssrs-screener-slc",
                version="1999-01-01",
                language="fr",
                content=broken,
                sha256="0" * 64,
                source="s",
                licence="l",
                translated_on="t",
                installed_by="x",
                installed_at=NOW,
            )
        )
    with caplog.at_level(logging.WARNING):
        async with db.transaction() as session:
            loaded = await load_installed(session)
    assert loaded == ("en-XA",)
    assert instruments.cssrs_languages() == ("en", "en-XA")
    assert instruments.has_cssrs("en-XA") and not instruments.has_cssrs("fr")
    screener = instruments.cssrs("en-XA")
    assert [i.id for i in screener.items] == ["s1", "s2", "s3", "s4", "s5", "s6"]
    assert screener.items[3].text.startswith("⟦Ĥàṽé ýöû ĥàđ ţĥéšé")
    assert screener.items[3].loinc == "93249-1"
    assert instruments.cssrs().items[3].text.startswith("Have you had these thoughts")
    (warning,) = [r for r in caplog.records if "instrument.unusable" in r.getMessage()]
    assert "language=fr" in warning.getMessage() and "1999-01-01" in warning.getMessage()
    assert offered_languages() == ("en", "en-XA")


async def test_enrollment_in_a_language_needs_its_translation(db: Database) -> None:
    await _clinic(db)
    clinic = parse_clinics(CLINIC, source="t").clinics[0]
    for tag in ("es", "en-XA"):
        with pytest.raises(LanguageRefused) as refused:
            async with db.transaction() as session:
                await enroll_patient(
                    session,
                    clinic=clinic,
                    ref="P-1",
                    timezone=None,
                    baseline_mood=None,
                    emergency_contact=None,
                    now=NOW,
                    actor=CLI,
                    language=tag,
                )
        assert "no C-SSRS translation is installed (aftercare instrument install)" in str(
            refused.value
        )
    assert str(refused.value).startswith("Pseudo-locale (en-XA) cannot be offered")
    assert language_refusal("es") is not None
    async with db.transaction() as session:
        await install(session, content=_pseudo(), installed_by="Dr Ada", now=NOW)
    async with db.transaction() as session:
        await load_installed(session)
        patient, _ = await enroll_patient(
            session,
            clinic=clinic,
            ref="P-1",
            timezone=None,
            baseline_mood=None,
            emergency_contact=None,
            now=NOW,
            actor=CLI,
            language="en_xa",
        )
    assert patient.language == "en-XA"
    async with db.transaction() as session:
        (event,) = (
            await session.scalars(select(AuditEvent).where(AuditEvent.event == "patient.enrolled"))
        ).all()
    assert json.loads(event.detail)["language"] == "en-XA"


async def test_the_poll_reloads_only_when_what_is_installed_changed(db: Database) -> None:
    """Every instance polls every few seconds: an unchanged set of files is one small read, a
    new or replaced file is read, checked and used."""
    async with db.transaction() as session:
        assert await instrument_service.refresh_installed(session) == ()  # nothing installed
        assert await instrument_service.refresh_installed(session) is None  # no change
        await install(session, content=_pseudo(), installed_by="Dr Ada", now=NOW)
    async with db.transaction() as session:
        assert await instrument_service.refresh_installed(session) == ("en-XA",)
        assert instruments.has_cssrs("en-XA")
        instruments.forget_cssrs("en-XA")  # gone from memory, not from the table
        assert await instrument_service.refresh_installed(session) is None  # the table unchanged
        replaced = _pseudo().replace('translated_on = "', 'translated_on = "again ')
        await install(session, content=replaced, installed_by="Dr Ada", now=NOW)
    async with db.transaction() as session:
        assert await instrument_service.refresh_installed(session) == ("en-XA",)
    assert instruments.has_cssrs("en-XA")
