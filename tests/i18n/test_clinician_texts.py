"""Every clinician text in the pseudo-locale: nothing left in plain English (a text never wrapped
for the clinicians' catalogue), nothing over Telegram's limits once a language lengthens it."""

from __future__ import annotations

import pytest

from bot.i18n import use_language
from tests.i18n import clinician_texts
from tests.i18n.test_pseudo_locale import (
    MAX_ALERT,
    MAX_CALLBACK_DATA,
    MAX_MESSAGE,
    english_left,
)


@pytest.fixture(scope="module")
def pseudo_texts() -> list[tuple[str, str]]:
    with use_language("en-XA"):
        return clinician_texts.all_texts()


def test_every_clinician_text_is_extractable(pseudo_texts: list[tuple[str, str]]) -> None:
    substituted = clinician_texts.substituted()
    left = {name: runs for name, text in pseudo_texts if (runs := english_left(text, substituted))}
    assert left == {}


def test_the_collector_covers_every_kind_of_clinician_text(
    pseudo_texts: list[tuple[str, str]],
) -> None:
    assert len(pseudo_texts) > 150
    names = " ".join(name for name, _ in pseudo_texts)
    for kind in ("page", "repage", "status", "open", "patients", "history", "contact", "help"):
        assert kind in names
    for kind in ("on call", "off call", "logged", "taken", "e-mail", "summary", "digest"):
        assert kind in names
    assert all(text.strip() for _, text in pseudo_texts)


def test_a_page_says_which_language_the_patient_reads(
    pseudo_texts: list[tuple[str, str]],
) -> None:
    page = dict(pseudo_texts)["page high"]
    assert "Spanish (es)" in page
    assert "Patient reads" not in page  # said in the pseudo-locale, so wrapped


def test_every_clinician_message_fits_once_lengthened(
    pseudo_texts: list[tuple[str, str]],
) -> None:
    too_long = {name: len(text) for name, text in pseudo_texts if len(text) > MAX_MESSAGE}
    assert too_long == {}


def test_every_button_answer_fits_an_alert_once_lengthened() -> None:
    with use_language("en-XA"):
        alerts = clinician_texts.alerts()
    assert len(alerts) > 10
    assert all(a.startswith("⟦") for a in alerts), alerts
    assert {a: len(a) for a in alerts if len(a) > MAX_ALERT} == {}


def test_callback_data_stays_within_telegram_limit() -> None:
    with use_language("en-XA"):
        data = clinician_texts.callback_data()
    assert len(data) > 10
    assert [d for d in data if len(d.encode()) > MAX_CALLBACK_DATA] == []


def test_in_english_the_texts_are_the_english_they_always_were() -> None:
    with use_language("en"):
        said = dict(clinician_texts.all_texts())
        alerts = clinician_texts.alerts()
    assert said["page high"].splitlines()[:3] == [
        "🔴 HIGH priority — case #12",
        "Patient: Jane Doe (P-0042)",
        "Patient reads Spanish (es).",
    ]
    assert said["open, none"] == "No open cases."
    assert said["logged p r"] == "✓ Recorded on case #12: Phone — Reached."
    assert said["subject high"] == "[Aftercare] HIGH priority — case #12 (P-0042)"
    assert "Not authorised: this command is for registered clinicians." in alerts
