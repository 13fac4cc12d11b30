"""The settings in people's words (`bot/console/forms/settings_words.py`): durations, values,
labels and validation problems, without a database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from bot.clinic_config import ClinicConfig
from bot.console.forms.settings_words import (
    change_in_words,
    change_label,
    duration_words,
    field_of,
    label,
    problem_text,
    replanned_sentence,
    value_words,
)

BASE = {"id": "north", "name": "North", "timezone": "UTC", "contact_phone": "+1 555 0100"}


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(0), "0 seconds"),
        (timedelta(seconds=2), "2 seconds"),
        (timedelta(seconds=1.5), "1.5 seconds"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(hours=1, minutes=30), "1 hour 30 minutes"),
        (timedelta(hours=4), "4 hours"),
        (timedelta(days=1), "24 hours"),
        (timedelta(hours=36), "36 hours"),
        (timedelta(days=2), "2 days"),
        (timedelta(days=7, hours=6), "7 days 6 hours"),
        (timedelta(days=90), "90 days"),
    ],
)
def test_a_duration_in_words(delta: timedelta, words: str) -> None:
    assert duration_words(delta) == words


def test_stored_values_read_as_words_not_json() -> None:
    assert value_words(["PT2S", "PT4H", "P1D"]) == "2 seconds, 4 hours, 24 hours"
    assert value_words("P7DT6H") == "7 days 6 hours"
    assert value_words("PT1H30M") == "1 hour 30 minutes"
    assert value_words("22:00:00") == "22:00"
    assert value_words(None) == "none" and value_words([]) == "none"
    assert value_words(True) == "yes" and value_words(False) == "no"
    assert value_words(7, unit="day") == "7 days" and value_words(1, unit="day") == "1 day"
    assert value_words("911") == "911"
    assert value_words("PT") == "PT" and value_words("Pat") == "Pat"  # not durations
    rung = {"after": "next_business_day", "notify": ["queue", "primary"], "channels": ["email"]}
    assert value_words([rung, {"after": "PT0S", "notify": ["queue"], "channels": []}]) == (
        "after next business day: queue, primary by email; after 0 seconds: queue by telegram"
    )


def test_labels_name_settings_as_the_page_does() -> None:
    assert label("protocol.standard.daily_days") == "Daily check-ins for (standard protocol)"
    assert label("ladder.high.0.after") == "High ladder, rung 1"
    assert label("paging.routing_keys.low") == "Routing key for low cases"
    assert label("crisis.terms") == "Crisis words"
    assert change_label("protocols.standard.offsets") == (
        "Check-ins after the infusion (standard protocol)"
    )
    assert change_label("protocols.weekly") == "Protocol “weekly”"
    assert change_label("escalation.high") == "Escalation ladder for high cases"
    assert change_label("escalation.business_hours.days") == "Business days"
    assert change_label("quiet_hours") == "Quiet hours"
    assert change_label("quiet_hours.start") == "Quiet from"
    assert change_label("caring.series_end_days") == "An infusion series ends after"
    assert change_label("outreach.again_after") == "Outreach: again after"
    words = change_in_words("protocols.standard.daily_days", 7, 10)
    assert (words.label, words.before, words.after) == (
        "Daily check-ins for (standard protocol)",
        "7 days",
        "10 days",
    )


def _problems(**settings: object) -> dict[str, str]:
    try:
        ClinicConfig.model_validate({**BASE, **settings})
    except ValidationError as exc:
        return {field_of(p["loc"]): problem_text(p, field_of(p["loc"])) for p in exc.errors()}
    raise AssertionError("valid")


def test_validation_problems_become_plain_sentences_in_the_fields_unit() -> None:
    assert _problems(protocols={"standard": {"daily_days": 91}}) == {
        "protocol.standard.daily_days": "at most 90 days"
    }
    assert _problems(protocols={"standard": {"daily_days": -1}}) == {
        "protocol.standard.daily_days": "at least 0 days"
    }
    assert _problems(crisis={"terms": []}) == {"crisis.terms": "give at least one crisis word"}
    assert _problems(oncall={"bot_shift_hours": 169}) == {
        "oncall.bot_shift_hours": "at most 168 hours"
    }
    assert _problems(invite_valid_for=timedelta(days=91)) == {"invite_valid_for": "at most 90 days"}
    assert _problems(invite_valid_for=timedelta(0)) == {"invite_valid_for": "more than 0 seconds"}
    assert _problems(thresholds={"mood_floor": 11}) == {"thresholds.mood_floor": "at most 10"}
    assert _problems(name="") == {"name": "this cannot be empty"}
    notify = {"escalation": {"high": [{"after": "PT0S", "notify": []}]}}
    assert _problems(**notify) == {"ladder.high.0.after": "give at least one person to notify"}
    for sentence in _problems(protocols={"standard": {"daily_days": 91}}, name="").values():
        assert "Input should" not in sentence and "List should" not in sentence


def test_the_replanned_count_reads_the_same_before_and_after_a_save() -> None:
    assert replanned_sentence(1, saved=False) == (
        "1 patient with an active infusion would have their unsent check-ins re-planned."
    )
    assert replanned_sentence(2, saved=True) == (
        "2 patients with an active infusion had their unsent check-ins re-planned."
    )
    assert replanned_sentence(0, saved=True).startswith("0 patients ")
