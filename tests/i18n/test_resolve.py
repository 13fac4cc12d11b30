"""Which language a patient is spoken to in (issue 29): the resolution order and each fallback,
the clinic's setting validated, the crisis card per language, the page's language line."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.clinic_config import ConfigError, parse_clinics
from bot.clinic_defaults import DEFAULT_CRISIS_CARD, DEFAULT_CRISIS_CARDS
from bot.i18n import resolve as resolving
from bot.i18n.crisis import crisis_card_text
from bot.i18n.names import language_name
from bot.i18n.pseudo import pseudo
from bot.i18n.resolve import (
    chosen_language,
    menu_languages,
    patient_language,
    resolve,
)
from bot.messaging.pages import reads_line

OFFERED = ("en", "es", "en-XA")
CLINIC = """
[[clinics]]
id = "north"
name = "North"
timezone = "UTC"
contact_phone = "+1 555 0100"
"""


def test_the_patients_own_setting_comes_first() -> None:
    assert resolve("es", "en", "en-US", offered=OFFERED) == "es"


def test_then_the_clinics_default() -> None:
    assert resolve(None, "es", "en-US", offered=OFFERED) == "es"


def test_then_telegrams_language_code_by_its_first_two_letters() -> None:
    assert resolve(None, None, "es-MX", offered=OFFERED) == "es"
    assert resolve(None, None, "ES", offered=OFFERED) == "es"


def test_then_english() -> None:
    assert resolve(None, None, None, offered=OFFERED) == "en"
    assert resolve(None, None, "", offered=OFFERED) == "en"


def test_a_language_not_offered_is_skipped_for_the_next() -> None:
    assert resolve("fr", "es", "en", offered=OFFERED) == "es"  # no French catalogue or C-SSRS
    assert resolve("fr", "de", "es-AR", offered=OFFERED) == "es"
    assert resolve("fr", "de", "pt-BR", offered=OFFERED) == "en"
    assert resolve("es", "es", "es", offered=("en",)) == "en"  # Spanish not installed


def test_tags_are_normalised_and_nonsense_is_skipped() -> None:
    assert resolve("EN_xa", None, None, offered=OFFERED) == "en-XA"
    assert resolve("12", "!!", "es", offered=OFFERED) == "es"


def test_telegrams_code_is_never_read_as_the_pseudo_locale() -> None:
    assert resolve(None, None, "en-XA", offered=OFFERED) == "en"  # its first two letters: en


def test_offered_is_the_catalogues_with_an_installed_cssrs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resolving, "catalogued", lambda: ("en", "es", "fr", "en-XA"))
    monkeypatch.setattr(resolving, "cssrs_languages", lambda: ("en", "de", "fr"))
    assert resolving.offered_languages() == ("en", "fr")
    patient = SimpleNamespace(language="fr", telegram_language="es")
    assert patient_language(patient, "en") == "fr"
    assert patient_language(SimpleNamespace(language=None, telegram_language="fr-CA"), "de") == "fr"
    assert patient_language(None, "es", "fr") == "fr"  # a stranger: Telegram's, offered


def test_the_clinic_chooses_a_language_that_is_offered_or_the_default() -> None:
    assert chosen_language("default", offered=OFFERED) is None
    assert chosen_language(" ES-mx ", offered=OFFERED) == "es"
    with pytest.raises(ValueError, match=r"French \(fr\) is not offered.*C-SSRS"):
        chosen_language("fr", offered=OFFERED)
    with pytest.raises(ValueError, match="not a language tag"):
        chosen_language("<script>", offered=OFFERED)


def test_languages_are_named_in_english_or_their_own_words() -> None:
    assert language_name("es") == "Spanish"
    assert language_name("es", in_language="es") == "español"
    assert language_name("en-XA") == "Pseudo-locale (en-XA)"
    assert language_name("qq") == "qq"


def test_menus_go_to_each_catalogue_but_english_and_the_pseudo_locale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(resolving, "catalogued", lambda: ("en", "es", "pt", "en-XA"))
    assert menu_languages() == ("es", "pt")


def test_the_clinic_language_defaults_to_english_and_is_validated() -> None:
    (clinic,) = parse_clinics(CLINIC, source="t.toml").clinics
    assert clinic.language == "en" and clinic.crisis.cards == {}
    (clinic,) = parse_clinics(CLINIC + 'language = "ES-mx"\n', source="t.toml").clinics
    assert clinic.language == "es"
    with pytest.raises(ConfigError, match="language"):
        parse_clinics(CLINIC + 'language = "1x"\n', source="t.toml")


def test_the_crisis_card_per_language() -> None:
    (clinic,) = parse_clinics(CLINIC, source="t.toml").clinics
    assert crisis_card_text(clinic, "en") == DEFAULT_CRISIS_CARD
    assert crisis_card_text(clinic, None) == DEFAULT_CRISIS_CARD
    spanish = crisis_card_text(clinic, "es")
    assert spanish == DEFAULT_CRISIS_CARDS["es"]
    for resource in ("988 y marque 2", "AYUDA al 988", "988lineadevida.org", "911"):
        assert resource in spanish
    assert "no es un servicio de emergencia" in spanish
    assert crisis_card_text(clinic, "en-XA") == pseudo(DEFAULT_CRISIS_CARD)
    assert crisis_card_text(clinic, "fr") == DEFAULT_CRISIS_CARD  # none in French: the clinic's


def test_a_clinics_own_cards_win_and_a_non_us_card_gets_no_us_spanish_default() -> None:
    own = CLINIC + '[clinics.crisis]\ncard = "Call 112."\ncards = { ES = "Llame al 112." }\n'
    (clinic,) = parse_clinics(own, source="t.toml").clinics
    assert clinic.crisis.cards == {"es": "Llame al 112."}
    assert crisis_card_text(clinic, "es") == "Llame al 112."
    uk = CLINIC + '[clinics.crisis]\ncard = "Call 999 or Samaritans on 116 123."\n'
    (clinic,) = parse_clinics(uk, source="t.toml").clinics
    assert crisis_card_text(clinic, "es") == "Call 999 or Samaritans on 116 123."
    with pytest.raises(ConfigError, match="empty"):
        parse_clinics(CLINIC + '[clinics.crisis]\ncards = { es = " " }\n', source="t.toml")


def test_pages_name_the_patients_language_when_it_is_not_english(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(resolving, "cssrs_languages", lambda: OFFERED)
    monkeypatch.setattr(resolving, "catalogued", lambda: OFFERED)
    (clinic,) = parse_clinics(CLINIC, source="t.toml").clinics
    spanish = SimpleNamespace(language="es", telegram_language=None)
    assert reads_line(spanish, clinic) == ["Patient reads Spanish (es)."]  # type: ignore[arg-type]
    pseudo_reader = SimpleNamespace(language="en-XA", telegram_language=None)
    assert reads_line(pseudo_reader, clinic) == ["Patient reads Pseudo-locale (en-XA)."]  # type: ignore[arg-type]
    english = SimpleNamespace(language=None, telegram_language="en-GB")
    assert reads_line(english, clinic) == []  # type: ignore[arg-type]
