"""Patient wording that depends on the clinic or on what happened (pure)."""

from __future__ import annotations

import pytest

from bot.clinic_config import parse_clinics
from bot.messaging import texts

BASE = """
[[clinics]]
id = "north"
name = "North"
timezone = "UTC"
contact_phone = "+1 555"
"""


def _clinic(extra: str = ""):  # type: ignore[no-untyped-def]
    return parse_clinics(BASE + extra, source="t").clinic("north")


def test_the_consent_screen_describes_the_default_schedule() -> None:
    assert texts.schedule_in_words(_clinic()) == (
        "about 4 hours and 24 hours after each infusion, then once a day at 10:00 for 7 days "
        "after it"
    )
    custom = _clinic(
        """
[clinics.protocols.standard]
offsets = ["PT2H"]
daily_time = "18:30"
daily_days = 1
red_flags_at = "PT2H"
"""
    )
    assert texts.schedule_in_words(custom) == (
        "about 2 hours after each infusion, then once more the day after, at 18:30"
    )
    assert "about 2 hours after each infusion" in texts.consent_screen(custom)
    assert "24 hours" not in texts.consent_screen(custom)


@pytest.mark.parametrize("ending", ["routine", "queued", "paged", "not_reached"])
def test_a_closing_message_says_one_thing(ending: str) -> None:
    text = texts.closing(_clinic(), ending)
    paged = "has been paged" in text
    queued = "clinic hours" in text
    assert (paged, queued) == {
        "routine": (False, True),
        "queued": (False, True),
        "paged": (True, False),
        "not_reached": (False, False),
    }[ending]
    if ending == "not_reached":
        assert "nobody may see it soon" in text


def test_notices_name_a_message_as_a_message() -> None:
    clinic = _clinic()
    assert texts.paged_notice(clinic, "high", about="message").startswith("Your message has")
    assert texts.nobody_notice(clinic, about="message").startswith("Your message has")
    assert texts.paged_notice(clinic, "high").startswith("Your answers have")


def test_an_unreachable_patient_is_told_what_happened_not_that_they_stopped() -> None:
    clinic = _clinic()
    unreachable = texts.paused(clinic, "unreachable")
    assert "could not reach you" in unreachable and "North was told" in unreachable
    assert "as you asked" not in unreachable
    assert "as you asked" in texts.paused(clinic, "opted_out")
