"""A language's name for people: "Spanish" (in English), "español" (in its own words), and its
label with its tag, "Spanish (es)"; the pseudo-locale by its own name, "Pseudo-locale (en-XA)"."""

from __future__ import annotations

from babel import Locale, UnknownLocaleError

from bot.i18n.pseudo import PSEUDO

SOURCE = "en"


def language_name(language: str, *, in_language: str = SOURCE) -> str:
    """The language's name in `in_language`; the tag itself when Babel does not know it."""
    if language == PSEUDO:
        return f"Pseudo-locale ({PSEUDO})"
    try:
        name = Locale.parse(language.replace("-", "_")).get_display_name(
            in_language.replace("-", "_") if in_language != PSEUDO else SOURCE
        )
    except (ValueError, TypeError, UnknownLocaleError):
        return language
    return name or language


def language_label(language: str, *, in_language: str = SOURCE) -> str:
    """The name with its tag, "Spanish (es)"; a name that is the tag (or already carries it,
    as the pseudo-locale's does) is not repeated."""
    name = language_name(language, in_language=in_language)
    return name if name == language or language in name else f"{name} ({language})"
