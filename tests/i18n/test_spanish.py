"""The patient's texts in Spanish: said from the catalogue, with the same placeholders and
commands as the English, dates in Spanish, the C-SSRS never from our catalogue."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.domain import instruments
from bot.domain.safety_plan import STEPS
from bot.i18n import _, use_language
from bot.i18n.dates import local_day
from bot.messaging import menus, questions, safety_plan, texts
from bot.services.safety import events
from tests.i18n import patient_texts

_COMMAND = re.compile(r"(?<!\w)/[a-z]+")


@pytest.fixture(scope="module")
def both() -> list[tuple[str, str, str]]:
    """(name, English, Spanish) of every patient text."""
    with use_language("en"):
        english = patient_texts.all_texts()
    with use_language("es"):
        spanish = patient_texts.all_texts()
    return [(n, e, s) for (n, e), (_, s) in zip(english, spanish, strict=True)]


def test_exact_spanish_wording() -> None:
    clinic = patient_texts.clinic()
    with use_language("es"):
        assert _(texts.SAVED) == "Guardado."
        assert _(texts.CLOSED) == "Este control está cerrado."
        assert texts.crisis_card(clinic).endswith("\n\nSu clínica, North Clinic: +1 555 0100")
        assert questions.answered_line("s3", "yes") == "Pregunta 3: Sí"
        assert questions.answered_line("mood", "7") == "Estado de ánimo: 7/10"
        assert texts.red_flag_advice(clinic).startswith(
            "⚠️ Estos síntomas necesitan atención médica ahora. Por favor, llame al 911 "
        )
        assert texts.schedule_in_words(clinic) == (
            "aproximadamente 4 horas y 24 horas después de cada infusión; después, una vez al "
            "día a las 10:00 durante los 7 días siguientes"
        )
        assert [c.description for c in menus.patient_commands()] == [
            "Empezar un control ahora",
            "Recursos de crisis",
            "Ayuda y recursos de crisis",
            "Cambiar el idioma",
            "Dejar de recibir controles",
        ]
        assert questions.question_text("mood") == (
            "¿Cómo está su estado de ánimo en este momento, de 0 (el peor) a 10 (el mejor)?"
        )
        assert safety_plan.step_text(patient_texts.VIEW).startswith(
            "Su plan de seguridad — paso 4 de 6: Personas a las que puedo pedir ayuda\n"
        )


def test_titles_and_days_in_spanish() -> None:
    with use_language("es"):
        titles = dict(patient_texts.all_texts())
    assert titles["local_day"] == "mar, 25 nov"
    assert titles["title_4h"] == "Control de las 4 horas después de su infusión del mar, 25 nov"
    assert titles["title_1h"] == "Control de 1 hora después de su infusión del mar, 25 nov"
    assert titles["title_day3"] == "Control diario del día 3 después de su infusión del mar, 25 nov"
    with use_language("en"):
        day = local_day(datetime(2025, 11, 25, 15, tzinfo=UTC), ZoneInfo("UTC"))
    assert day == "Tue 25 Nov"


def test_every_text_is_spanish_with_the_same_placeholders_and_commands(
    both: list[tuple[str, str, str]],
) -> None:
    same = [n for n, e, s in both if e == s and not _is_language_neutral(e)]
    assert same == []
    assert [n for n, e, s in both if _COMMAND.findall(e) != _COMMAND.findall(s)] == []
    clinic = patient_texts.clinic()
    for value in (clinic.name, clinic.contact_phone):
        assert [n for n, e, s in both if e.count(value) != s.count(value)] == []


def _is_language_neutral(text: str) -> bool:
    """Numbers, the clinic's own words and what the instrument says: the same in any language."""
    stripped = text
    for value in patient_texts.substituted(patient_texts.clinic()):
        stripped = stripped.replace(value, "")
    return not re.search(r"[A-Za-z]{2,}", stripped) or stripped.strip() in ("No", "No: No")


def test_the_cssrs_is_never_translated_by_our_catalogue() -> None:
    with use_language("es"):
        for item in instruments.cssrs().items:
            assert _(item.text) == item.text
            assert questions.question_text(item.id).endswith(item.text)
        assert _(instruments.cssrs().preamble) == instruments.cssrs().preamble


def test_marked_copies_match_their_sources() -> None:
    """Texts the domain and services keep in English are marked for extraction in messaging."""
    assert tuple(patient for _, patient in STEPS) == safety_plan.STEP_TITLES
    assert set(safety_plan.REFUSALS) == {events.STALE, events.UNKNOWN}
