"""An instrument translation's file checked against the installed English source (issue 29).

CLINICAL.md §13: the C-SSRS in another language only as the official translation, used under
the rights holder's terms; Aftercare ships none. A clinic's file is the English file's format
(bot/instruments/cssrs_screener_slc.toml) plus `language` and a `[provenance]` table. It must
translate the installed source version: same id and version, the same items in the same order
(ids, numbers, LOINC codes: the published skip logic and triage key on them), every text
present. Each refusal is one sentence naming what is wrong. Pure: no database, no clock.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from babel import Locale, UnknownLocaleError

from bot.domain.instruments import Cssrs
from bot.i18n import normalize
from bot.i18n.names import language_label
from bot.i18n.pseudo import PSEUDO

SOURCE_LANGUAGE = "en"
MAX_BYTES = 256 * 1024
MAX_TRANSLATED_ON = 32  # InstrumentFile.translated_on
PROVENANCE = {
    "source": "where the translation came from, e.g. the Columbia Lighthouse Project",
    "licence": "the licence or permission reference under which the clinic uses it",
    "translated_on": "the translation's own date or version, e.g. 2021-05-10",
}
TEXTS = {
    "attribution": "the copyright line shown with the instrument",
    "preamble": "the sentence said before the first item",
}


@dataclass(frozen=True)
class Provenance:
    source: str
    licence: str
    translated_on: str
    test_only: bool = False


@dataclass(frozen=True)
class TranslationFile:
    """A file that passed every rule: what it translates, in which language, from where."""

    instrument_id: str
    version: str
    language: str  # as Aftercare stores it (bot.i18n.normalize)
    provenance: Provenance
    data: Mapping[str, Any]  # the parsed file, for bot.domain.instruments.cssrs_from
    sha256: str


@dataclass(frozen=True)
class Checked:
    file: TranslationFile | None
    problems: tuple[str, ...] = ()


def sha256_of(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def check_translation(content: str, *, source: Cssrs) -> Checked:
    """The file, or every reason it cannot be installed as a translation of `source`."""
    size = len(content.encode("utf-8"))
    if size > MAX_BYTES:
        return Checked(
            None, (f"The file is {size} bytes; an instrument file is at most {MAX_BYTES}.",)
        )
    try:
        data = tomllib.loads(content)
    except tomllib.TOMLDecodeError as exc:
        return Checked(None, (f"The file is not valid TOML: {exc}.",))
    language, language_problems = _language(data.get("language"))
    provenance, provenance_problems = _provenance(data.get("provenance"), language)
    problems = [
        *language_problems,
        *provenance_problems,
        *_identity(data, source),
        *_texts(data),
        *_items(data.get("items"), source),
    ]
    if problems or language is None or provenance is None:
        return Checked(None, tuple(problems))
    translated = TranslationFile(
        instrument_id=source.id,
        version=source.version,
        language=language,
        provenance=provenance,
        data=data,
        sha256=sha256_of(content),
    )
    return Checked(translated)


def _language(value: object) -> tuple[str | None, list[str]]:
    if value is None:
        return None, ['The file names no language: add language = "es" (the language it is in).']
    if not isinstance(value, str):
        return None, ['The file\'s language must be a text, e.g. language = "es".']
    problem = language_problem(value)
    return (None, [problem]) if problem else (normalize(value), [])


def language_problem(tag: str) -> str | None:
    """Why `tag` is not a language a translation can be in (None when it is)."""
    shown = tag[:16]
    code = normalize(tag)
    if code is None:
        return f'Language "{shown}" is not a language tag, e.g. "es".'
    if code == SOURCE_LANGUAGE:
        return f'Language "{shown}" is English, the source itself: a translation is in another.'
    if code == PSEUDO:
        return None
    try:
        known = Locale.parse(code).language
    except (UnknownLocaleError, ValueError):
        return f'Language "{shown}" is not a language Aftercare knows, e.g. "es".'
    if known != code:
        return f'Language "{shown}" is written "{known}" in Aftercare.'
    return None


def _provenance(value: object, language: str | None) -> tuple[Provenance | None, list[str]]:
    if not isinstance(value, dict):
        return None, [
            "The file has no [provenance] table: add source, licence and translated_on "
            "(where the translation came from, under which licence, and its date or version)."
        ]
    problems = [
        f"The provenance has no {key}: {meaning}."
        for key, meaning in PROVENANCE.items()
        if not isinstance(value.get(key), str) or not value[key].strip()
    ]
    translated_on = value.get("translated_on")
    if isinstance(translated_on, str) and len(translated_on.strip()) > MAX_TRANSLATED_ON:
        problems.append(
            f"The provenance's translated_on is {len(translated_on.strip())} characters; "
            f"at most {MAX_TRANSLATED_ON} (a date or a version)."
        )
    test_only = value.get("test_only", False)
    if not isinstance(test_only, bool):
        problems.append("The provenance's test_only must be true or false.")
    elif language == PSEUDO and not test_only:
        problems.append(
            f"The pseudo-locale {PSEUDO} is for tests only: its provenance must say "
            "test_only = true."
        )
    if problems:
        return None, problems
    return Provenance(
        source=value["source"].strip(),
        licence=value["licence"].strip(),
        translated_on=value["translated_on"].strip(),
        test_only=bool(test_only),
    ), []


def _identity(data: Mapping[str, Any], source: Cssrs) -> list[str]:
    problems = []
    ident, version = data.get("id"), data.get("version")
    if ident is None:
        problems.append(f'The file has no id: add id = "{source.id}" (the source it translates).')
    elif ident != source.id:
        problems.append(
            f'The id "{str(ident)[:64]}" is not the installed source instrument\'s '
            f'("{source.id}"): only a translation of it can be installed.'
        )
    if version is None:
        problems.append(
            f'The file has no version: add version = "{source.version}" (the source version '
            "it translates)."
        )
    elif version != source.version:
        problems.append(
            f'The version "{str(version)[:32]}" is not the installed source\'s version of '
            f"{source.id} ({source.version}): a translation of another version cannot be used."
        )
    return problems


def _texts(data: Mapping[str, Any]) -> list[str]:
    return [
        f"The file has no {key} ({meaning})."
        for key, meaning in TEXTS.items()
        if not isinstance(data.get(key), str) or not data[key].strip()
    ]


def _describe(ident: object, number: object, loinc: object) -> str:
    return f'id "{str(ident)[:16]}", number {str(number)[:8]}, LOINC "{str(loinc)[:16]}"'


def _items(value: object, source: Cssrs) -> list[str]:
    wanted = ", ".join(item.id for item in source.items)
    if not isinstance(value, list) or not all(isinstance(raw, dict) for raw in value):
        return [f"The file has no [[items]] (the source has {len(source.items)}: {wanted})."]
    problems = []
    if len(value) != len(source.items):
        problems.append(
            f"The file has {len(value)} items; the source has {len(source.items)} "
            f"({wanted}, in that order)."
        )
    for position, (raw, item) in enumerate(zip(value, source.items, strict=False), start=1):
        ident, number, loinc = raw.get("id"), raw.get("number"), raw.get("loinc")
        if (ident, number, loinc) != (item.id, item.number, item.loinc) or isinstance(number, bool):
            problems.append(
                f"Item {position} is {_describe(ident, number, loinc)}; the source's item "
                f"{position} is {_describe(item.id, item.number, item.loinc)}."
            )
        text = raw.get("text")
        if not isinstance(text, str) or not text.strip():
            problems.append(f"Item {position} ({item.id}) has no text.")
    return problems


def offered(cssrs_languages: Iterable[str], catalogued: Iterable[str]) -> tuple[str, ...]:
    """The languages a check-in can be offered in: English, and each with both an installed
    C-SSRS translation and a catalogue of Aftercare's own texts (en-XA only when its test
    instrument is installed, as any other)."""
    texts = set(catalogued)
    return (SOURCE_LANGUAGE, *[c for c in cssrs_languages if c != SOURCE_LANGUAGE and c in texts])


def refusal(
    language: str, *, cssrs_languages: Iterable[str], catalogued: Iterable[str]
) -> str | None:
    """Why a patient cannot be enrolled in `language`, naming what is missing (None: they can)."""
    code = normalize(language)
    if code is None:
        return f'Language "{language[:16]}" is not a language tag, e.g. "es".'
    if code == SOURCE_LANGUAGE:
        return None
    missing = []
    if code not in set(cssrs_languages):
        missing.append("no C-SSRS translation is installed (aftercare instrument install)")
    if code not in set(catalogued):
        missing.append("Aftercare's own texts have no catalogue in it")
    if not missing:
        return None
    return f"{language_label(code)} cannot be offered: {' and '.join(missing)}."
