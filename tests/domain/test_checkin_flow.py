"""Question order, C-SSRS skip logic and accepted answers (bot/domain/checkin_flow.py).

CLINICAL.md §2 (published skip logic): ask 1 and 2; if 2 = Yes ask 3, 4, 5, then 6; if
2 = No go straight to 6; 6 is always asked. §4: the red flags at the check-in that asks them.
§5: an optional free-text note, last. §7: any C-SSRS or red-flag Yes shows the crisis card.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.checkin_flow import (
    ALL_ITEMS,
    CSSRS_ITEMS,
    MOOD,
    NO,
    NOTE,
    RED_FLAGS,
    SKIP,
    YES,
    Tap,
    accepts,
    choices,
    is_positive,
    next_item,
)
from bot.services.checkin_states import delivered_before_recorded
from storage.models import Checkin

MOOD_VALUES = [str(n) for n in range(11)]
IDEATION = ["mood", "s1", "s2", "s3", "s4", "s5", "s6"]
NO_IDEATION = ["mood", "s1", "s2", "s6"]


def legal_sequences(*, asks_red_flags: bool) -> list[list[str]]:
    tail = ["rf", "note"] if asks_red_flags else ["note"]
    return [IDEATION + tail, NO_IDEATION + tail]


def walk(answer_for: dict[str, str], *, asks_red_flags: bool) -> list[str]:
    """Answer each question next_item asks, from an empty check-in, until it is complete."""
    answers: dict[str, str] = {}
    asked: list[str] = []
    for _ in range(len(ALL_ITEMS) + 1):
        current = next_item(answers, asks_red_flags=asks_red_flags)
        if current is None:
            return asked
        asked.append(current)
        answers[current] = answer_for.get(current, NO)
    pytest.fail(f"check-in never completes; asked {asked}")


# --- item ids line up with the published instrument ---------------------------------------


def test_item_ids() -> None:
    assert CSSRS_ITEMS == ("s1", "s2", "s3", "s4", "s5", "s6")
    assert (MOOD, RED_FLAGS, NOTE) == ("mood", "rf", "note")
    assert ALL_ITEMS[-1] == NOTE


# --- order and skip logic ---------------------------------------------------------------


def test_first_question_is_mood() -> None:
    assert next_item({}, asks_red_flags=True) == MOOD
    assert next_item({}, asks_red_flags=False) == MOOD


def test_items_1_and_2_always_asked() -> None:
    assert next_item({"mood": "5"}, asks_red_flags=False) == "s1"
    assert next_item({"mood": "5", "s1": NO}, asks_red_flags=False) == "s2"
    assert next_item({"mood": "5", "s1": YES}, asks_red_flags=False) == "s2"


def test_item_2_yes_asks_3_then_4_then_5_then_6() -> None:
    answers = {"mood": "5", "s1": YES, "s2": YES}
    assert next_item(answers, asks_red_flags=False) == "s3"
    answers["s3"] = NO
    assert next_item(answers, asks_red_flags=False) == "s4"
    answers["s4"] = NO
    assert next_item(answers, asks_red_flags=False) == "s5"
    answers["s5"] = NO
    assert next_item(answers, asks_red_flags=False) == "s6"


def test_item_2_no_goes_straight_to_6() -> None:
    assert next_item({"mood": "5", "s1": YES, "s2": NO}, asks_red_flags=False) == "s6"
    assert next_item({"mood": "5", "s1": NO, "s2": NO}, asks_red_flags=True) == "s6"


@pytest.mark.parametrize("answer_3_to_5", [YES, NO])
def test_item_6_asked_after_5_whatever_3_to_5_were(answer_3_to_5: str) -> None:
    answers = {"mood": "5", "s1": NO, "s2": YES}
    answers.update(dict.fromkeys(("s3", "s4", "s5"), answer_3_to_5))
    assert next_item(answers, asks_red_flags=False) == "s6"


def test_item_6_asked_even_when_1_and_2_are_no() -> None:
    assert next_item({"mood": "9", "s1": NO, "s2": NO}, asks_red_flags=False) == "s6"


def test_red_flags_after_item_6_when_the_checkin_asks_them() -> None:
    answers = {"mood": "5", "s1": NO, "s2": NO, "s6": NO}
    assert next_item(answers, asks_red_flags=True) == RED_FLAGS


def test_red_flags_never_asked_when_the_checkin_does_not_ask_them() -> None:
    answers = {"mood": "5", "s1": NO, "s2": NO, "s6": NO}
    assert next_item(answers, asks_red_flags=False) == NOTE


def test_note_is_last() -> None:
    answers = {"mood": "5", "s1": NO, "s2": NO, "s6": NO, "rf": NO}
    assert next_item(answers, asks_red_flags=True) == NOTE


@pytest.mark.parametrize("asks_red_flags", [True, False])
@pytest.mark.parametrize("s2", [YES, NO])
def test_none_when_complete(asks_red_flags: bool, s2: str) -> None:
    answers = {"mood": "5", "s1": NO, "s2": s2, "s6": NO, "note": SKIP}
    if s2 == YES:
        answers.update({"s3": NO, "s4": NO, "s5": NO})
    if asks_red_flags:
        assert next_item(answers, asks_red_flags=True) == RED_FLAGS
        answers["rf"] = NO
    assert next_item(answers, asks_red_flags=asks_red_flags) is None


@pytest.mark.parametrize("asks_red_flags", [True, False])
def test_worked_sequences(asks_red_flags: bool) -> None:
    tail = ["rf", "note"] if asks_red_flags else ["note"]
    assert walk({"s2": YES}, asks_red_flags=asks_red_flags) == IDEATION + tail
    assert walk({"s2": NO}, asks_red_flags=asks_red_flags) == NO_IDEATION + tail
    everything_yes = dict.fromkeys((*CSSRS_ITEMS, RED_FLAGS), YES) | {"mood": "0"}
    assert walk(everything_yes, asks_red_flags=asks_red_flags) == IDEATION + tail


@settings(max_examples=300)
@given(
    data=st.data(),
    asks_red_flags=st.booleans(),
)
def test_every_answer_sequence_follows_the_published_skip_logic(
    data: st.DataObject, asks_red_flags: bool
) -> None:
    answers: dict[str, str] = {}
    asked: list[str] = []
    for _ in range(len(ALL_ITEMS) + 1):
        current = next_item(answers, asks_red_flags=asks_red_flags)
        if current is None:
            break
        assert current not in answers, f"{current} asked twice"
        asked.append(current)
        if current == MOOD:
            value = data.draw(st.sampled_from(MOOD_VALUES), label="mood")
        elif current == NOTE:
            value = SKIP
        else:
            value = data.draw(st.sampled_from([YES, NO]), label=current)
        assert accepts(current, value)
        answers[current] = value
    else:
        pytest.fail(f"check-in never completes; asked {asked}")

    assert asked in legal_sequences(asks_red_flags=asks_red_flags)
    assert "s1" in asked
    assert "s2" in asked
    assert "s6" in asked
    assert asked[-1] == NOTE
    assert (RED_FLAGS in asked) == asks_red_flags
    for follow_up in ("s3", "s4", "s5"):
        assert (follow_up in asked) == (answers["s2"] == YES)


# --- accepted answers -------------------------------------------------------------------


@pytest.mark.parametrize("value", MOOD_VALUES)
def test_mood_accepts_0_to_10(value: str) -> None:
    assert accepts(MOOD, value)


@pytest.mark.parametrize(
    "value",
    ["-1", "11", "100", "05", " 5", "5 ", "5.0", "+5", "five", "", YES, NO, SKIP, "١"],
)
def test_mood_refuses_anything_else(value: str) -> None:
    assert not accepts(MOOD, value)


@pytest.mark.parametrize("item_id", [*CSSRS_ITEMS, RED_FLAGS])
def test_yes_no_items_accept_yes_and_no(item_id: str) -> None:
    assert accepts(item_id, YES)
    assert accepts(item_id, NO)


@pytest.mark.parametrize("item_id", [*CSSRS_ITEMS, RED_FLAGS])
@pytest.mark.parametrize(
    "value", ["Yes", "YES", "No", "y", "n", "true", "1", "0", "", SKIP, "maybe", "yes "]
)
def test_yes_no_items_refuse_anything_else(item_id: str, value: str) -> None:
    """A skipped C-SSRS item or red flag would be an unanswered item taken as answered."""
    assert not accepts(item_id, value)


def test_note_accepts_only_skip() -> None:
    assert accepts(NOTE, SKIP)
    for value in (YES, NO, "5", "Skip", "", "hello"):
        assert not accepts(NOTE, value)


@pytest.mark.parametrize("item_id", ["s0", "s7", "S1", "rf2", "", "mood ", "phq9", "cssrs"])
def test_unknown_items_accept_nothing(item_id: str) -> None:
    for value in (YES, NO, SKIP, "5"):
        assert not accepts(item_id, value)


def _legal(item_id: str) -> set[str]:
    if item_id == MOOD:
        return set(MOOD_VALUES)
    if item_id == NOTE:
        return {SKIP}
    return {YES, NO}


@given(item_id=st.sampled_from(ALL_ITEMS), value=st.text(max_size=6))
def test_forged_values_are_refused(item_id: str, value: str) -> None:
    assert accepts(item_id, value) == (value in _legal(item_id))


@pytest.mark.parametrize("item_id", ALL_ITEMS)
def test_every_button_offered_is_accepted_and_all_legal_values_are_offered(item_id: str) -> None:
    offered = {value for row in choices(item_id) for _, value in row}
    assert offered == _legal(item_id)


# --- crisis card trigger (§7) -------------------------------------------------------------


@pytest.mark.parametrize("item_id", [*CSSRS_ITEMS, RED_FLAGS])
def test_any_cssrs_or_red_flag_yes_is_positive(item_id: str) -> None:
    assert is_positive(item_id, YES)


@pytest.mark.parametrize("item_id", [*CSSRS_ITEMS, RED_FLAGS])
def test_no_is_not_positive(item_id: str) -> None:
    assert not is_positive(item_id, NO)


@pytest.mark.parametrize("value", [*MOOD_VALUES, YES, SKIP])
def test_mood_and_note_are_never_positive(value: str) -> None:
    assert not is_positive(MOOD, value)
    assert not is_positive(NOTE, value)


@given(
    item_id=st.sampled_from([*ALL_ITEMS, "s7", "x"]),
    value=st.sampled_from([YES, NO, SKIP, *MOOD_VALUES, "Yes", ""]),
)
def test_positive_iff_yes_to_cssrs_or_red_flags(item_id: str, value: str) -> None:
    expected = value == YES and (item_id in CSSRS_ITEMS or item_id == RED_FLAGS)
    assert is_positive(item_id, value) == expected


@pytest.mark.parametrize(
    ("status", "item", "lease_owner", "attempts", "counts"),
    [
        ("scheduled", MOOD, "instance-1", 0, True),  # its send is out, not yet recorded
        ("scheduled", MOOD, None, 1, True),  # a send timed out yet arrived; retry pending
        ("scheduled", MOOD, None, 0, False),  # never sent: a forged tap opens nothing
        ("scheduled", "s1", "instance-1", 0, False),  # only the first question was sent
        ("sent", MOOD, None, 1, False),  # already recorded: the normal path takes it
        ("cancelled", MOOD, "instance-1", 0, False),
    ],
)
def test_a_tap_proves_delivery_only_for_a_checkin_being_sent(
    status: str, item: str, lease_owner: str | None, attempts: int, counts: bool
) -> None:
    checkin = Checkin(
        id=7, patient_id=1, kind="offset", status=status, lease_owner=lease_owner, attempts=attempts
    )
    tap = Tap(checkin_id=7, item_id=item, value="5" if item == MOOD else NO)
    assert delivered_before_recorded(checkin, tap) is counts
