"""Triage of a check-in's answers (bot/domain/triage.py, bot/domain/levels.py).

CLINICAL.md §2 (published): level = highest-numbered Yes, never a sum; 1 or 2 low, 3
moderate, 4, 5 or 6 high. Ours, not to be weakened: an unanswered item is never No (a
check-in abandoned after item 2 = Yes is at least moderate); nothing lowers a risk already
raised. §3: mood <= floor, or `drop` below baseline on `consecutive` check-ins, flags. §4:
any red flag is high.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.checkin_flow import CSSRS_ITEMS, MOOD, NO, RED_FLAGS, YES
from bot.domain.levels import Level, highest
from bot.domain.triage import (
    MoodRule,
    Triage,
    triage_checkin,
    triage_cssrs,
    triage_mood,
    triage_red_flags,
)

NONE, LOW, MODERATE, HIGH = Level.NONE, Level.LOW, Level.MODERATE, Level.HIGH
RULE = MoodRule()
LEVELS = [NONE, LOW, MODERATE, HIGH]


def check(
    answers: dict[str, str],
    *,
    closed: bool = True,
    baseline: int | None = None,
    previous: tuple[int, ...] = (),
    rule: MoodRule = RULE,
    floor: Level = NONE,
) -> Triage:
    return triage_checkin(
        answers,
        closed=closed,
        baseline=baseline,
        previous_moods=previous,
        mood_rule=rule,
        floor=floor,
    )


def cssrs_level(answers: dict[str, str], *, closed: bool = True) -> Level:
    return highest(*(f.level for f in triage_cssrs(answers, closed=closed)))


def complete(yes: set[int], *, mood: str = "7", rf: str | None = None) -> dict[str, str]:
    """A check-in answered along the published skip logic, Yes to the given item numbers."""
    answers = {MOOD: mood}
    asked = [1, 2, 3, 4, 5, 6] if 2 in yes else [1, 2, 6]
    answers.update({f"s{n}": YES if n in yes else NO for n in asked})
    if rf is not None:
        answers[RED_FLAGS] = rf
    return answers


def at_least(level: Level, floor: Level) -> bool:
    return level.rank >= floor.rank


# --- levels -------------------------------------------------------------------------------


def test_levels_rank_none_low_moderate_high() -> None:
    assert [level.rank for level in LEVELS] == [0, 1, 2, 3]


def test_highest_compares_by_rank_not_alphabetically() -> None:
    assert highest(NONE, HIGH) == HIGH
    assert highest(LOW, MODERATE) == MODERATE
    assert highest(HIGH, NONE, LOW) == HIGH
    assert highest(MODERATE, NONE) == MODERATE


def test_highest_of_nothing_is_none() -> None:
    assert highest() == NONE


# --- C-SSRS: highest-numbered Yes, never a sum ------------------------------------------


@pytest.mark.parametrize(
    ("yes", "expected"),
    [
        (set(), NONE),
        ({1}, LOW),
        ({2}, LOW),
        ({1, 2}, LOW),
        ({2, 3}, MODERATE),
        ({1, 2, 3}, MODERATE),
        ({2, 4}, HIGH),
        ({2, 5}, HIGH),
        ({2, 6}, HIGH),
        ({1, 2, 3, 4, 5, 6}, HIGH),
        ({6}, HIGH),
        ({1, 6}, HIGH),
    ],
    ids=lambda v: str(v),
)
def test_published_table_on_complete_checkins(yes: set[int], expected: Level) -> None:
    assert check(complete(yes)).level == expected


def test_yes_to_1_and_2_is_low_not_summed_to_moderate() -> None:
    assert cssrs_level({"s1": YES, "s2": YES, "s3": NO, "s4": NO, "s5": NO, "s6": NO}) == LOW


def test_yes_to_1_2_and_3_is_moderate_not_summed_to_high() -> None:
    assert cssrs_level({"s1": YES, "s2": YES, "s3": YES, "s4": NO, "s5": NO, "s6": NO}) == MODERATE


@pytest.mark.parametrize(
    ("item", "expected"),
    [("s1", LOW), ("s2", LOW), ("s3", MODERATE), ("s4", HIGH), ("s5", HIGH), ("s6", HIGH)],
)
def test_a_single_yes_sets_the_level_of_its_item(item: str, expected: Level) -> None:
    answers = dict.fromkeys(CSSRS_ITEMS, NO) | {item: YES}
    assert cssrs_level(answers) == expected


def test_item_6_alone_with_2_no_is_high() -> None:
    """Item 6 since last contact counts as recent behaviour."""
    answers = {MOOD: "8", "s1": NO, "s2": NO, "s6": YES}
    assert check(answers).level == HIGH


def test_all_no_is_none() -> None:
    triage = check(complete(set()))
    assert triage.level == NONE
    assert triage.findings == ()


def test_finding_names_the_highest_yes() -> None:
    (finding,) = triage_cssrs(
        {"s1": YES, "s2": YES, "s3": YES, "s4": NO, "s5": NO, "s6": NO}, closed=True
    )
    assert finding.level == MODERATE
    assert "3" in finding.reason


# --- unanswered is never No -------------------------------------------------------------


def test_closed_after_item_2_yes_with_3_to_5_unanswered_is_at_least_moderate() -> None:
    answers = {MOOD: "6", "s1": NO, "s2": YES}
    assert at_least(check(answers, closed=True).level, MODERATE)


@pytest.mark.parametrize(
    "answered",
    [{}, {"s3": NO}, {"s3": NO, "s4": NO}, {"s3": NO, "s4": NO, "s5": NO}],
    ids=["at-3", "at-4", "at-5", "at-6"],
)
def test_abandoned_anywhere_after_item_2_yes_is_at_least_moderate(
    answered: dict[str, str],
) -> None:
    """CLINICAL.md §2: "A check-in abandoned after item 2 = Yes is at least moderate."

    Item 6 is always asked; leaving it unanswered must not be read as a No.
    """
    answers = {MOOD: "6", "s1": YES, "s2": YES} | answered
    assert at_least(check(answers, closed=True).level, MODERATE)


def test_still_in_progress_after_item_2_yes_adds_no_unanswered_finding() -> None:
    answers = {MOOD: "6", "s1": NO, "s2": YES}
    triage = check(answers, closed=False)
    assert triage.level == LOW
    assert len(triage.findings) == 1
    assert all("unanswered" not in f.reason for f in triage.findings)


def test_screener_left_part_way_without_ideation_is_low_not_none() -> None:
    """Item 6 unanswered is never No: a human looks (low); moderate needs 2 = Yes."""
    result = check({MOOD: "6", "s1": NO, "s2": NO}, closed=True)
    assert result.level == LOW
    assert any("incomplete" in f.reason and "6" in f.reason for f in result.findings)
    assert check({MOOD: "6", "s1": NO, "s2": NO}, closed=False).level == NONE
    assert check({MOOD: "6"}, closed=True).level == NONE  # no screener answer: a non-response


def test_complete_after_item_2_yes_with_no_to_3_to_6_is_low() -> None:
    """Answered No is not unanswered: the abandonment rule must not fire on a finished check-in."""
    assert check(complete({2}), closed=True).level == LOW


# --- red flags (§4) -----------------------------------------------------------------------


def test_red_flag_yes_is_high() -> None:
    assert check(complete(set(), rf=YES)).level == HIGH
    assert [f.level for f in triage_red_flags({RED_FLAGS: YES})] == [HIGH]


def test_red_flag_no_adds_nothing() -> None:
    assert triage_red_flags({RED_FLAGS: NO}) == []
    assert check(complete(set(), rf=NO)).level == NONE


# --- mood (§3) ----------------------------------------------------------------------------


@pytest.mark.parametrize("mood", [0, 1, 2])
def test_mood_at_or_below_floor_flags_at_the_rules_level(mood: int) -> None:
    assert [f.level for f in triage_mood(mood, baseline=None, previous=[], rule=RULE)] == [
        RULE.level
    ]
    assert check(complete(set(), mood=str(mood))).level == RULE.level


@pytest.mark.parametrize("mood", [3, 5, 10])
def test_mood_above_floor_does_not_flag(mood: int) -> None:
    assert triage_mood(mood, baseline=None, previous=[], rule=RULE) == []


def test_default_floor_is_2_and_drop_is_3_on_2_check_ins() -> None:
    assert (RULE.floor, RULE.drop, RULE.consecutive) == (2, 3, 2)
    assert at_least(RULE.level, LOW)


def test_floor_is_configurable() -> None:
    rule = MoodRule(floor=4, level=HIGH)
    assert check(complete(set(), mood="4"), rule=rule).level == HIGH
    assert check(complete(set(), mood="5"), rule=rule).level == NONE


def test_drop_below_baseline_on_two_consecutive_check_ins_flags() -> None:
    findings = triage_mood(4, baseline=7, previous=[4], rule=RULE)
    assert [f.level for f in findings] == [RULE.level]
    assert check(complete(set(), mood="4"), baseline=7, previous=(3,)).level == RULE.level


def test_drop_on_only_one_check_in_does_not_flag() -> None:
    assert triage_mood(4, baseline=7, previous=[], rule=RULE) == []
    assert triage_mood(4, baseline=7, previous=[5], rule=RULE) == []
    assert triage_mood(5, baseline=7, previous=[4], rule=RULE) == []


def test_drop_run_is_the_latest_check_ins_newest_first() -> None:
    assert triage_mood(4, baseline=7, previous=[8, 4], rule=RULE) == []
    assert len(triage_mood(4, baseline=7, previous=[4, 8], rule=RULE)) == 1


def test_no_baseline_no_drop_flag() -> None:
    assert triage_mood(3, baseline=None, previous=[3, 3, 3], rule=RULE) == []
    assert check(complete(set(), mood="3"), baseline=None, previous=(3, 3)).level == NONE


def test_drop_rule_honours_configured_drop_and_consecutive() -> None:
    rule = MoodRule(drop=2, consecutive=3)
    assert triage_mood(6, baseline=8, previous=[6], rule=rule) == []
    assert len(triage_mood(6, baseline=8, previous=[6, 5], rule=rule)) == 1
    assert triage_mood(7, baseline=8, previous=[6, 5], rule=rule) == []


def test_unanswered_mood_adds_nothing() -> None:
    assert triage_mood(None, baseline=9, previous=[0, 0], rule=RULE) == []


# --- a level already raised is never lowered --------------------------------------------


@pytest.mark.parametrize("floor", LEVELS)
def test_floor_is_never_lowered_by_calm_answers(floor: Level) -> None:
    assert check(complete(set(), mood="10", rf=NO), floor=floor).level == floor


def test_floor_does_not_cap_a_higher_finding() -> None:
    assert check(complete({2, 4}), floor=LOW).level == HIGH


# --- properties ---------------------------------------------------------------------------

ANSWER_KEYS = [MOOD, *CSSRS_ITEMS, RED_FLAGS]
YES_KEYS = [*CSSRS_ITEMS, RED_FLAGS]


@st.composite
def answer_dicts(draw: st.DrawFn) -> dict[str, str]:
    answers: dict[str, str] = {}
    for key in ANSWER_KEYS:
        if key == MOOD:
            value = draw(st.none() | st.integers(0, 10).map(str))
        else:
            value = draw(st.sampled_from([None, YES, NO]))
        if value is not None:
            answers[key] = value
    return answers


@dataclass(frozen=True)
class Context:
    """Everything triage_checkin takes besides the answers."""

    closed: bool
    baseline: int | None
    previous: tuple[int, ...]
    rule: MoodRule
    floor: Level

    def triage(self, answers: dict[str, str]) -> Triage:
        return check(
            answers,
            closed=self.closed,
            baseline=self.baseline,
            previous=self.previous,
            rule=self.rule,
            floor=self.floor,
        )


contexts = st.builds(
    Context,
    closed=st.booleans(),
    baseline=st.none() | st.integers(0, 10),
    previous=st.lists(st.integers(0, 10), max_size=4).map(tuple),
    rule=st.builds(
        MoodRule,
        floor=st.integers(0, 10),
        drop=st.integers(1, 10),
        consecutive=st.integers(1, 4),
        level=st.sampled_from(LEVELS),
    ),
    floor=st.sampled_from(LEVELS),
)


@settings(max_examples=400)
@given(answers=answer_dicts(), context=contexts, key=st.sampled_from(YES_KEYS))
def test_adding_a_yes_never_lowers_the_level(
    answers: dict[str, str], context: Context, key: str
) -> None:
    before = context.triage(answers).level
    after = context.triage(answers | {key: YES}).level
    assert at_least(after, before), f"{key}=Yes lowered {before} to {after} for {answers}"


@settings(max_examples=400)
@given(answers=answer_dicts(), context=contexts)
def test_level_is_never_below_floor_nor_below_any_finding(
    answers: dict[str, str], context: Context
) -> None:
    triage = context.triage(answers)
    assert at_least(triage.level, context.floor)
    assert all(at_least(triage.level, f.level) for f in triage.findings)
    assert triage.level == highest(context.floor, *(f.level for f in triage.findings))


@given(answers=answer_dicts(), context=contexts)
def test_any_yes_on_cssrs_items_4_to_6_or_red_flags_is_high(
    answers: dict[str, str], context: Context
) -> None:
    if any(answers.get(k) == YES for k in ("s4", "s5", "s6", RED_FLAGS)):
        assert context.triage(answers).level == HIGH


@given(answers=answer_dicts(), closed=st.booleans())
def test_cssrs_level_is_the_highest_numbered_yes(answers: dict[str, str], closed: bool) -> None:
    table = {1: LOW, 2: LOW, 3: MODERATE, 4: HIGH, 5: HIGH, 6: HIGH}
    yeses = [n for n in range(1, 7) if answers.get(f"s{n}") == YES]
    expected = table[max(yeses)] if yeses else NONE
    level = cssrs_level(answers, closed=closed)
    assert at_least(level, expected)
    if not closed:
        assert level == expected
    elif answers.get("s2") != YES and yeses:
        assert level == expected  # a Yes outranks the part-way (low) finding


def test_answering_item_1_yes_after_item_2_never_lowers_the_level() -> None:
    """Found by the property above: item 2 = Yes, items 3-6 No and item 1 unanswered was rated
    moderate (as if abandoned after item 2), and answering item 1 Yes then lowered it to low.
    Abandoned after item 2 means items 3-6 unanswered; item 1 alone is a screener left part-way."""
    answers = {"s2": YES, "s3": NO, "s4": NO, "s5": NO, "s6": NO}
    before = triage_cssrs(answers, closed=True)
    after = triage_cssrs(answers | {"s1": YES}, closed=True)
    assert highest(*(f.level for f in before)) == LOW
    assert any("incomplete" in f.reason for f in before)
    assert highest(*(f.level for f in after)) == LOW
    abandoned = triage_cssrs({"s1": YES, "s2": YES, "s3": NO}, closed=True)
    assert highest(*(f.level for f in abandoned)) == MODERATE
