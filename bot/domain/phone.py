"""A phone number as a clinician types it, made into E.164 (`+<country><number>`, ITU-T E.164:
at most 15 digits) for a `tel:` link.

No numbering plan is known here (no phone library): the rule is digits and the usual
separators, an international prefix (`+`, `00`, and `011` where the default country is +1), a
national number with the clinic's default country code, whose national trunk prefix (a leading
0, or 1 in the North American plan) is dropped, and 8 to 15 digits in all. A number it accepts
may still not exist; one it refuses says why in words a clinician can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_ENTERED = 40  # `Patient.phone` as entered
MIN_DIGITS, MAX_DIGITS = 8, 15  # country code and national number together
COUNTRY_CODE = re.compile(r"\+[1-9][0-9]{0,2}")
_ALLOWED = re.compile(r"[0-9+\s().\-/]+")
_SEPARATORS = re.compile(r"[\s().\-/]")
_EXTENSION = re.compile(r"(?i)(?:ext\.?|x)\s*[0-9]+\s*$|[#;,]")
# "+44 (0)20 …": the trunk 0 written in brackets after the country code, not dialled from abroad
_BRACKETED_TRUNK = re.compile(r"^(\s*(?:\+|00)\s*[1-9][0-9]{0,2})\s*\(\s*0\s*\)")
KEEPS_TRUNK_ZERO = {"+39"}  # Italy: the leading 0 of a fixed line is part of the number
NANP = "+1"  # the North American plan: trunk prefix 1, international prefix 011


class PhoneRefused(ValueError):
    """A number that cannot be dialled as written; the message says what to change: an English
    `template` and its `values` (said in a clinician's language by
    `bot.services.wording.refusals`)."""

    def __init__(self, template: str, **values: object) -> None:
        super().__init__(template.format(**values))
        self.template, self.values = template, values


@dataclass(frozen=True)
class PhoneNumber:
    entered: str  # as typed, trimmed: what the clinic sees
    e164: str  # what a `tel:` link dials


def country_code_problem(code: str) -> str | None:
    """Why `code` is not a country calling code such as +44 or +1, or None if it is one."""
    if not COUNTRY_CODE.fullmatch(code):
        return "a country calling code is + and 1 to 3 digits, not starting with 0, e.g. +44"
    return None


def parse_phone(text: str, *, default_country: str | None) -> PhoneNumber:
    """`text` as E.164; PhoneRefused with a plain reason if it cannot be one.

    `default_country` (e.g. "+44") applies to a number written without an international
    prefix; without one, only international numbers are accepted."""
    entered = text.strip()
    if not entered:
        raise PhoneRefused("Enter a phone number, or leave the field empty.")
    if len(entered) > MAX_ENTERED:
        raise PhoneRefused("At most {most} characters, separators included.", most=MAX_ENTERED)
    if _EXTENSION.search(entered):
        raise PhoneRefused("Enter the number without an extension (call and ask for it).")
    if not _ALLOWED.fullmatch(entered):
        raise PhoneRefused(
            "Use digits, spaces, brackets, dots or dashes only, with + only at the start, "
            "e.g. +44 20 7946 0000."
        )
    if "+" in entered.lstrip()[1:]:
        raise PhoneRefused("A + can only come first, before the country code.")
    digits = _SEPARATORS.sub("", _BRACKETED_TRUNK.sub(r"\1", entered))
    e164 = _international(digits, default_country)
    count = len(e164) - 1
    if count < MIN_DIGITS:
        raise PhoneRefused(
            "Too short: a number with its country code has {least} to {most} digits, this one "
            "{count} ({e164}).",
            least=MIN_DIGITS,
            most=MAX_DIGITS,
            count=count,
            e164=e164,
        )
    if count > MAX_DIGITS:
        raise PhoneRefused(
            "Too long: a number with its country code has at most {most} digits, this one {count}.",
            most=MAX_DIGITS,
            count=count,
        )
    return PhoneNumber(entered, e164)


def _international(digits: str, default_country: str | None) -> str:
    """`+` and the digits, the international prefix or the default country code resolved."""
    if digits.startswith("+"):
        rest = digits[1:]
    elif digits.startswith("00"):
        rest = digits[2:]
    elif default_country == NANP and digits.startswith("011"):
        rest = digits[3:]
    elif default_country is None:
        raise PhoneRefused(
            "Start with + and the country code, e.g. +44 20 7946 0000: this clinic has no "
            "default country code (set phone_country_code in the clinic's settings)."
        )
    else:
        return default_country + _national(digits, default_country)
    if not rest:
        raise PhoneRefused("The country code and number are missing after the + or 00.")
    if rest.startswith("0"):
        raise PhoneRefused("A country code never starts with 0: check the digits after + or 00.")
    return "+" + rest


def _national(digits: str, country: str) -> str:
    """A national number without its trunk prefix (a leading 0; 1 in the North American plan)."""
    if country == NANP:
        if digits.startswith("1") and len(digits) == 11:
            return digits[1:]
        if digits.startswith("0"):
            raise PhoneRefused(
                "A North American number does not start with 0: enter the 10 digits with the "
                "area code, or + and the country code for a number abroad."
            )
        return digits
    if country in KEEPS_TRUNK_ZERO:
        return digits
    return digits[1:] if digits.startswith("0") else digits
