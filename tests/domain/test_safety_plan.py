"""The safety plan's rules: six steps in order, items one a line, numbers read, active only
with a contact in steps 4 and 5 (CLINICAL.md §11)."""

from __future__ import annotations

import pytest

from bot.domain import safety_plan as rules

GOOD = {
    "step1": "Not sleeping\nPulling away from friends",
    "step2": "A walk",
    "step3": "",
    "step4": "Sam (sister) +44 20 7946 0000",
    "step5": "The clinic 020 7946 0001\nSamaritans 116 123",
    "step6": "Give the pills to Sam",
}


def test_six_steps_in_stanley_brown_order() -> None:
    assert [rules.step_title(n) for n in (1, 4, 6)] == [
        "Warning signs",
        "People to ask for help",
        "Making the environment safe",
    ]


def test_a_plan_with_contacts_in_steps_4_and_5_is_active_and_round_trips() -> None:
    steps, errors = rules.read_plan(GOOD, country_code="+44")
    assert errors == {} and steps is not None
    sam = steps[3][0]
    assert (sam.name, sam.phone, sam.e164) == ("Sam (sister)", "+44 20 7946 0000", "+442079460000")
    assert steps[4][1].e164 == "116123"  # a short code at the end of a help step
    assert rules.is_active(steps)
    assert rules.from_json(rules.to_json(steps)) == steps


def test_without_a_contact_in_step_5_it_is_not_active() -> None:
    steps, _ = rules.read_plan({**GOOD, "step5": "See my GP"}, country_code="+44")
    assert steps is not None and not rules.is_active(steps)
    assert rules.missing_for_active(steps) == [5]


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("step4", "Sam 12345678901234567"),  # too long to dial
        ("step1", "\n".join(f"sign {n}" for n in range(rules.MAX_ITEMS + 1))),
        ("step2", "x" * (rules.MAX_ITEM_CHARS + 1)),
    ],
)
def test_bad_steps_are_refused_with_a_reason(field: str, text: str) -> None:
    steps, errors = rules.read_plan({**GOOD, field: text}, country_code="+44")
    assert steps is None and set(errors) == {field}


def test_short_numbers_outside_help_steps_are_words() -> None:
    (item,) = rules.read_step("Walk 200 m", step=2, country_code="+44")
    assert not item.is_contact
