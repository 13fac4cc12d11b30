"""Versioned instrument data (bot/instruments/*.toml), loaded once into frozen objects."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "instruments"


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    instrument_id: str
    instrument_version: str
    number: int = 0
    loinc: str = ""


@dataclass(frozen=True)
class Cssrs:
    """The C-SSRS screener, since-last-contact wording (CLINICAL.md §2)."""

    id: str
    version: str
    attribution: str
    preamble: str
    items: tuple[Item, ...]

    def item(self, item_id: str) -> Item:
        return next(i for i in self.items if i.id == item_id)


@dataclass(frozen=True)
class CheckinItems:
    """Aftercare's own items: mood, red flags, the free-text note."""

    id: str
    version: str
    mood: Item
    red_flags: Item
    note: Item


def _read(name: str) -> dict[str, object]:
    return tomllib.loads((DATA / name).read_text(encoding="utf-8"))


# Installed translations of the C-SSRS by language (bot/services/instruments loads them from
# the database at start-up and when one is installed); English is the source file itself.
_TRANSLATED: dict[str, Cssrs] = {}


def cssrs(language: str | None = None) -> Cssrs:
    """The screener in `language` when a licensed translation is installed; else the English
    source (callers that must not fall back ask `has_cssrs` first)."""
    if language and language in _TRANSLATED:
        return _TRANSLATED[language]
    return _source_cssrs()


def has_cssrs(language: str) -> bool:
    """Whether the check-in can be offered in `language` (English always can)."""
    return language == "en" or language in _TRANSLATED


def cssrs_languages() -> tuple[str, ...]:
    return ("en", *sorted(_TRANSLATED))


def install_cssrs(language: str, translated: Cssrs) -> None:
    """Use an installed, validated translation from now on (the services' loader calls this)."""
    _TRANSLATED[language] = translated


def forget_cssrs(language: str) -> None:
    _TRANSLATED.pop(language, None)


@cache
def _source_cssrs() -> Cssrs:
    return cssrs_from(_read("cssrs_screener_slc.toml"))


def cssrs_from(data: dict[str, object]) -> Cssrs:
    """The screener from an instrument file's data (the English source's shape)."""
    ident, version = str(data["id"]), str(data["version"])
    raw_items = data["items"]
    assert isinstance(raw_items, list)
    items = tuple(
        Item(
            id=raw["id"],
            text=raw["text"],
            number=int(raw["number"]),
            loinc=raw["loinc"],
            instrument_id=ident,
            instrument_version=version,
        )
        for raw in raw_items
    )
    return Cssrs(
        id=ident,
        version=version,
        attribution=str(data["attribution"]),
        preamble=str(data["preamble"]),
        items=items,
    )


@cache
def checkin_items() -> CheckinItems:
    data = _read("aftercare_checkin.toml")
    ident, version = str(data["id"]), str(data["version"])

    def item(key: str) -> Item:
        raw = data[key]
        assert isinstance(raw, dict)
        return Item(id=raw["id"], text=raw["text"], instrument_id=ident, instrument_version=version)

    return CheckinItems(
        id=ident, version=version, mood=item("mood"), red_flags=item("red_flags"), note=item("note")
    )


def item(item_id: str, language: str | None = None) -> Item:
    """Any check-in item by id; a C-SSRS item in `language` when its translation is installed.
    Aftercare's own items (mood, red flags, note) are translated by gettext where they are said."""
    own = checkin_items()
    for candidate in (own.mood, own.red_flags, own.note):
        if candidate.id == item_id:
            return candidate
    return cssrs(language).item(item_id)


def item_label(item_id: str) -> str:
    """What an answer's item asked, for a clinician reading it: "C-SSRS 4: Have you had these
    thoughts and had some intention of acting on them?"; an unknown id as itself."""
    for candidate in cssrs().items:
        if candidate.id == item_id:
            return f"C-SSRS {candidate.number}: {candidate.text}"
    own = checkin_items()
    for candidate in (own.mood, own.red_flags, own.note):
        if candidate.id == item_id:
            return candidate.text
    return item_id.upper()
