"""The consent screen's schedule in words takes any offset the clinic file allows, a fraction
of a second included, in every language (a plural rule needs a whole number: it is rounded)."""

from __future__ import annotations

import pytest

from bot.clinic_config import parse_clinics
from bot.i18n import use_language
from bot.messaging import texts
from tests.auxil.harness import rehearsal_clinic


@pytest.mark.parametrize("language", ["en", "es", "en-XA"])
def test_a_fractional_offset_is_said_not_a_crash(language: str) -> None:
    (clinic,) = parse_clinics(rehearsal_clinic(offset="PT1.5S"), source="t.toml").clinics
    with use_language(language):
        words = texts.schedule_in_words(clinic)
    assert "1.5" in words, words
    if language == "en":
        assert "1.5 seconds" in words
