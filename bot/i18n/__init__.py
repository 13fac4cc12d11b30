"""Aftercare's own texts in the patient's language: gettext catalogues managed with Babel.

Wrap a text in `_()` where it is said (never at import time: a module-level constant is read
once, in English); the language is the one `use_language` set for the update, page or send
at hand (a context variable, so concurrent updates never mix). Catalogues live in
`bot/i18n/locales/<lang>/LC_MESSAGES/aftercare.po` (reviewed text, each entry's status in the
catalogue) and are compiled to `.mo` by `python -m bot.i18n.catalogues compile`. `en-XA` is a
pseudo-locale made on the fly (`pseudo`): every wrapped text accented and ~40% longer, so a
test can see any text left unwrapped and any message Telegram's limits would refuse.
The C-SSRS items are not here: only an installed, licensed instrument file translates them."""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.support import Translations

from bot.i18n.pseudo import PSEUDO, pseudo

LOCALES = Path(__file__).resolve().parent / "locales"
DOMAIN = "aftercare"  # the patient's texts: translated (Spanish first), each entry reviewed
STAFF_DOMAIN = "clinicians"  # pages, clinician commands, the console: English, all extractable
SOURCE = "en"

_current: ContextVar[str] = ContextVar("aftercare_language", default=SOURCE)


def normalize(code: str | None) -> str | None:
    """A language tag as Aftercare stores it: "es-MX" → "es", "EN_xa" → "en-XA"; None for
    nothing or a tag that is not a language."""
    if not code:
        return None
    parts = code.replace("_", "-").split("-")
    primary = parts[0].lower()
    if not (2 <= len(primary) <= 3 and primary.isascii() and primary.isalpha()):
        return None
    if primary == "en" and len(parts) > 1 and parts[1].upper() == "XA":
        return PSEUDO
    return primary


@cache
def catalogued() -> tuple[str, ...]:
    """The languages Aftercare's own texts exist in: English, each catalogue, the pseudo-locale.
    Read from the package once (asked on every update and every send; catalogues ship with
    the code and change only with it)."""
    found = sorted(p.parent.parent.name for p in LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))
    return (SOURCE, *[f.replace("_", "-") for f in found if f != SOURCE], PSEUDO)


class _Pseudo(_gettext.NullTranslations):
    def gettext(self, message: str) -> str:
        return pseudo(message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return pseudo(msgid1 if n == 1 else msgid2)


@cache
def translations(language: str, domain: str = DOMAIN) -> _gettext.NullTranslations:
    """The catalogue of `language` in `domain` (English's own words when it has none)."""
    if language == PSEUDO:
        return _Pseudo()
    if language == SOURCE:
        return _gettext.NullTranslations()
    return Translations.load(str(LOCALES), [language.replace("-", "_")], domain)


def current_language() -> str:
    return _current.get()


@contextmanager
def use_language(language: str | None) -> Iterator[str]:
    """Say what follows in `language` (English for None or one without a catalogue)."""
    chosen = normalize(language) or SOURCE
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    """`message` in the current language."""
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a text for extraction where it is defined; translate it with `_()` where it is said."""
    return message


_ = gettext


def C_(message: str) -> str:
    """A clinician's text (a page, a clinician command, the console) in the current language:
    the `clinicians` catalogue, English until a clinic needs another. C for clinicians; kept
    apart from `_` so the patient catalogue, every entry of which is reviewed, holds only what
    patients read."""
    return translations(_current.get(), STAFF_DOMAIN).gettext(message)


def Cn_(singular: str, plural: str, n: int) -> str:
    """`C_` with a plural."""
    return translations(_current.get(), STAFF_DOMAIN).ngettext(singular, plural, n)


def NC_(message: str) -> str:
    """Mark a clinician's text for extraction where it is defined; say it with `C_()`."""
    return message
