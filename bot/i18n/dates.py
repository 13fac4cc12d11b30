"""Dates and times as the patient reads them, in the current language's formats (Babel).

English and the pseudo-locale keep the formats the English texts always had ("Tue 25 Nov",
"10:00"); another language takes its own locale's short day-and-month form (Spanish:
"mar, 25 nov")."""

from __future__ import annotations

from datetime import date, datetime, time
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime, format_skeleton, format_time

from bot.i18n import SOURCE, current_language
from bot.i18n.pseudo import PSEUDO

_ENGLISH = (SOURCE, PSEUDO)


@cache
def _locale(language: str) -> Locale:
    if language in _ENGLISH:
        return Locale("en")
    try:
        return Locale.parse(language.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return Locale("en")


def local_day(instant: datetime, zone: ZoneInfo) -> str:
    """The day of `instant` where the patient is: "Tue 25 Nov" in English."""
    return _day_label(instant.astimezone(zone).date(), current_language())


@lru_cache(maxsize=1024)
def _day_label(day: date, language: str) -> str:
    """Babel's formatting, once a day and language: every check-in sent names its day."""
    local = datetime(day.year, day.month, day.day)
    if language in _ENGLISH:
        return format_datetime(local, "EEE dd MMM", locale=_locale(language))
    return format_skeleton("MMMEd", local, locale=_locale(language))


def clock_time(at: time) -> str:
    """A time of day on the 24-hour clock ("18:30"), the form every catalogue uses."""
    return format_time(at, "HH:mm", locale=_locale(current_language()))
