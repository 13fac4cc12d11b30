"""The order of a check-in's questions and the answers each accepts (pure).

Order (CLINICAL.md §2-§5): mood 0-10; the C-SSRS screener with its published skip logic
(ask 1 and 2; if 2 = Yes ask 3, 4, 5, then 6; if 2 = No go straight to 6; 6 always);
the post-infusion red flags at the check-in that asks them; an optional free-text note.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

YES, NO, SKIP = "yes", "no", "skip"
MOOD, NOTE, RED_FLAGS = "mood", "note", "rf"
CSSRS_ITEMS = ("s1", "s2", "s3", "s4", "s5", "s6")
BUTTON_ITEMS = (MOOD, *CSSRS_ITEMS, RED_FLAGS)
ALL_ITEMS = (*BUTTON_ITEMS, NOTE)
MOOD_VALUES = tuple(str(n) for n in range(11))


def N_(message: str) -> str:
    """Mark a label for extraction into the catalogues. The domain imports nothing of ours,
    so labels stay English here (clinicians read them so); messaging says them with `_()`."""
    return message


YES_LABEL, NO_LABEL, SKIP_LABEL, SKIPPED_LABEL = N_("Yes"), N_("No"), N_("Skip"), N_("Skipped")


@dataclass(frozen=True)
class Tap:
    """A patient's button answer: which check-in, which item, which value."""

    checkin_id: int
    item_id: str
    value: str


def next_item(answers: Mapping[str, str], *, asks_red_flags: bool) -> str | None:
    """The next unanswered question, or None when the check-in is complete."""
    sequence = [MOOD, "s1", "s2"]
    if answers.get("s2") == YES:
        sequence += ["s3", "s4", "s5"]
    sequence.append("s6")
    if asks_red_flags:
        sequence.append(RED_FLAGS)
    sequence.append(NOTE)
    return next((item for item in sequence if item not in answers), None)


def accepts(item_id: str, value: str) -> bool:
    """Whether a button value is a legal answer to that item."""
    if item_id == MOOD:
        return value in MOOD_VALUES
    if item_id in CSSRS_ITEMS or item_id == RED_FLAGS:
        return value in (YES, NO)
    if item_id == NOTE:
        return value == SKIP
    return False


def choices(item_id: str) -> list[list[tuple[str, str]]]:
    """Button rows of (label, value) for an item."""
    if item_id == MOOD:
        return [[(v, v) for v in MOOD_VALUES[:6]], [(v, v) for v in MOOD_VALUES[6:]]]
    if item_id == NOTE:
        return [[(SKIP_LABEL, SKIP)]]
    return [[(YES_LABEL, YES), (NO_LABEL, NO)]]


def answer_label(item_id: str, value: str) -> str:
    """How a chosen answer reads once its buttons are gone (English: a msgid for the patient)."""
    if item_id == MOOD:
        return f"{value}/10"
    return {YES: YES_LABEL, NO: NO_LABEL, SKIP: SKIPPED_LABEL}.get(value, value)


def is_positive(item_id: str, value: str) -> bool:
    """A Yes to any C-SSRS item or the red flags: the crisis card is shown at once (§7)."""
    return value == YES and (item_id in CSSRS_ITEMS or item_id == RED_FLAGS)
