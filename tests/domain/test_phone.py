"""Phone numbers as typed, made E.164 (bot.domain.phone): separators, international prefixes,
the clinic's default country code and its trunk prefix, and plain refusals."""

from __future__ import annotations

import pytest

from bot.domain.phone import PhoneRefused, country_code_problem, parse_phone


@pytest.mark.parametrize(
    ("typed", "default", "e164"),
    [
        ("+44 20 7946 0000", None, "+442079460000"),
        ("+44 20 7946 0000", "+1", "+442079460000"),  # international wins over the default
        ("0044 20 7946 0000", None, "+442079460000"),
        ("00 44 (20) 7946-0000", "+33", "+442079460000"),
        ("+44 (0)20 7946 0000", None, "+442079460000"),  # the bracketed trunk 0
        ("+44(0) 7700 900123", None, "+447700900123"),
        ("(020) 7946-0000", "+44", "+442079460000"),  # national: trunk 0 dropped
        ("020.7946.0000", "+44", "+442079460000"),
        ("07700 900123", "+44", "+447700900123"),
        ("  +1 (212) 555-0100  ", None, "+12125550100"),
        ("(212) 555-0100", "+1", "+12125550100"),
        ("1 212 555 0100", "+1", "+12125550100"),  # the North American trunk 1
        ("011 44 20 7946 0000", "+1", "+442079460000"),  # the North American exit code
        ("06 12 34 56 78", "+33", "+33612345678"),
        ("06 1234 5678", "+39", "+390612345678"),  # Italy keeps the leading 0
        ("030/1234567", "+49", "+49301234567"),
        ("+49 30 1234 567", None, "+49301234567"),
        ("+1\u00a0212\u00a0555\u00a00100", None, "+12125550100"),  # no-break spaces
        ("+123456789012345", None, "+123456789012345"),  # 15 digits: the E.164 maximum
        ("+12345678", None, "+12345678"),  # 8 digits: the shortest accepted
    ],
)
def test_numbers_as_typed_become_e164(typed: str, default: str | None, e164: str) -> None:
    number = parse_phone(typed, default_country=default)
    assert number.e164 == e164
    assert number.entered == typed.strip()


@pytest.mark.parametrize(
    ("typed", "default", "says"),
    [
        ("", "+44", "Enter a phone number"),
        ("   ", None, "Enter a phone number"),
        ("020 7946 0000", None, "Start with + and the country code"),
        ("+44 20 7946 0000 ext 12", None, "without an extension"),
        ("+44 20 7946 0000 x12", None, "without an extension"),
        ("+44 20 7946 0000#", None, "without an extension"),
        ("+44 20 79AB 0000", None, "Use digits, spaces"),
        ("call Sam", "+44", "Use digits, spaces"),
        ("+٤٤ ٢٠ ٧٩٤٦ ٠٠٠٠", None, "Use digits, spaces"),  # digits to str.isdigit, not to us
        ("44 + 20 7946 0000", "+44", "A + can only come first"),
        ("+", None, "missing after the + or 00"),
        ("00", "+44", "missing after the + or 00"),
        ("+0 20 7946 0000", None, "never starts with 0"),
        ("000 44 20 7946", "+44", "never starts with 0"),
        ("+44 20 79", None, "Too short"),
        ("0207", "+44", "Too short"),
        ("+1234567890123456", None, "Too long"),
        ("+44 " + "1" * 40, None, "At most 40 characters"),
        ("0212 555 0100", "+1", "does not start with 0"),
    ],
)
def test_refusals_say_what_to_change(typed: str, default: str | None, says: str) -> None:
    with pytest.raises(PhoneRefused) as refused:
        parse_phone(typed, default_country=default)
    assert says in str(refused.value)


@pytest.mark.parametrize(
    ("code", "ok"),
    [
        ("+44", True),
        ("+1", True),
        ("+353", True),
        ("44", False),
        ("+0", False),
        ("+1234", False),
        ("+4a", False),
        ("", False),
    ],
)
def test_country_codes(code: str, ok: bool) -> None:
    assert (country_code_problem(code) is None) is ok
