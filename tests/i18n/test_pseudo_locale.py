"""Every patient text in the pseudo-locale: nothing left in plain English (a text never wrapped
for translation), nothing over Telegram's limits once a language lengthens it."""

from __future__ import annotations

import re

import pytest

from bot.i18n import _, use_language
from bot.messaging import safety_plan, texts
from tests.i18n import patient_texts

MAX_MESSAGE = 4096  # Telegram's limit on a message's text
MAX_ALERT = 200  # on the text of a button's answer (answerCallbackQuery)
MAX_CALLBACK_DATA = 64  # bytes
_WORD = re.compile(r"[^\W\d_]+")  # a run of letters, any script


def english_left(text: str, substituted: list[str]) -> list[str]:
    """Runs of three or more plain-ASCII words left once the values put in are taken out."""
    for value in substituted:
        text = text.replace(value, "¤")
    words = [(m.group(0), m.start(), m.end()) for m in _WORD.finditer(text)]
    runs: list[str] = []
    current: list[tuple[str, int, int]] = []
    for word, start, end in words:
        ascii_word = word.isascii()
        joined = current and text[current[-1][2] : start].strip(" ,.;:'’()-—\n•") == ""
        if ascii_word and (not current or joined):
            current.append((word, start, end))
            continue
        if len(current) >= 3:
            runs.append(" ".join(w for w, _, _ in current))
        current = [(word, start, end)] if ascii_word else []
    if len(current) >= 3:
        runs.append(" ".join(w for w, _, _ in current))
    return runs


def test_the_detector_sees_english_and_only_english() -> None:
    assert english_left("Hello there my friend", []) == ["Hello there my friend"]
    assert english_left("⟦Ĥéĺĺö ţĥéŕé · ·⟧ send /crisis now", []) == []
    assert english_left("⟦Çàĺĺ North Clinic at 911 · ·⟧", ["North Clinic"]) == []


@pytest.fixture(scope="module")
def pseudo_texts() -> list[tuple[str, str]]:
    with use_language("en-XA"):
        return patient_texts.all_texts()


def test_every_patient_text_is_translated(pseudo_texts: list[tuple[str, str]]) -> None:
    substituted = patient_texts.substituted(patient_texts.clinic())
    left = {name: runs for name, text in pseudo_texts if (runs := english_left(text, substituted))}
    assert left == {}
    assert len(pseudo_texts) > 150


def test_every_patient_text_fits_a_message_once_lengthened(
    pseudo_texts: list[tuple[str, str]],
) -> None:
    too_long = {name: len(text) for name, text in pseudo_texts if len(text) > MAX_MESSAGE}
    assert too_long == {}
    assert all(text.strip() for _, text in pseudo_texts)


def _alerts() -> list[str]:
    """Every text a patient's button is answered with (answerCallbackQuery)."""
    return [
        _(texts.CLOSED),
        _(texts.NOT_ENROLLED_ALERT),
        _(texts.SAVED),
        _(texts.TRY_AGAIN),
        _(texts.HELD_TAP),
        _(texts.CHANGED_TO_YES),
        _(texts.LATE_YES),
        _(texts.NOT_CURRENT),
        _(texts.ALREADY_STOPPED),
        texts.already_saved("s4", "yes"),
        texts.already_saved("note", "skip"),
        safety_plan.helped(),
        *(safety_plan.refusal(r) for r in safety_plan.REFUSALS),
        *(texts.invite_problem(p) for p in texts.INVITE_PROBLEMS),
    ]


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_button_answer_fits_an_alert_in_each_language(language: str) -> None:
    with use_language(language):
        alerts = _alerts()
    assert {a: len(a) for a in alerts if len(a) > MAX_ALERT} == {}


def test_every_button_answer_fits_an_alert_once_lengthened() -> None:
    with use_language("en-XA"):
        alerts = _alerts()
    assert {a: len(a) for a in alerts if len(a) > MAX_ALERT} == {}


def test_callback_data_stays_within_telegram_limit() -> None:
    with use_language("en-XA"):
        data = patient_texts.callback_data()
    assert data
    assert [d for d in data if len(d.encode()) > MAX_CALLBACK_DATA] == []
