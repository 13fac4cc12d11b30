"""Instrument data (bot/domain/instruments.py, bot/instruments/*.toml) against CLINICAL.md.

The C-SSRS screener text is published (CLINICAL.md §2): it must be reproduced exactly, in
order, with its LOINC codes and its attribution. CLINICAL.md is parsed at test time so the
two cannot drift apart; a copy of the six questions is the fallback when it is not beside
the repository.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from bot.domain import instruments
from bot.domain.checkin_flow import ALL_ITEMS, CSSRS_ITEMS, MOOD, NOTE, RED_FLAGS
from bot.domain.instruments import checkin_items, cssrs, item

CLINICAL_MD = Path(__file__).resolve().parents[3] / "shared" / "CLINICAL.md"

# (number, text, LOINC) as published in CLINICAL.md §2; item 6 has no LOINC code there.
FALLBACK_QUESTIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "Have you wished you were dead or wished you could go to sleep and not wake up?",
        "93246-7",
    ),
    (2, "Have you actually had any thoughts of killing yourself?", "93247-5"),
    (3, "Have you been thinking about how you might do this?", "93248-3"),
    (4, "Have you had these thoughts and had some intention of acting on them?", "93249-1"),
    (
        5,
        "Have you started to work out or worked out the details of how to kill yourself? "
        "Do you intend to carry out this plan?",
        "93250-9",
    ),
    (
        6,
        "Have you done anything, started to do anything, or prepared to do anything to end "
        "your life? (for example: collected pills, obtained a gun, gave away valuables, "
        "wrote a will or suicide note)",
        "",
    ),
)
FALLBACK_ATTRIBUTION = "Research Foundation for Mental Hygiene"

# The six red flags of CLINICAL.md §4, as words the question must contain (wording is ours).
RED_FLAG_WORDS = (
    ("detached", "unreal", "confused"),
    ("chest pain",),
    ("severe headache",),
    ("shortness of breath",),
    ("vision",),
    ("weakness", "numbness"),
)

QUESTION_LINE = re.compile(r"^(\d+)\.\s+(.*?)(?:\s+\[(\d{4,6}-\d)\])?\s*$")


def _section(markdown: str, number: int) -> str:
    """The body of `## <number>. ...` up to the next level-2 heading."""
    match = re.search(rf"^## {number}\.[^\n]*\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"CLINICAL.md has no section {number}"
    return match.group(1)


def _published() -> tuple[tuple[tuple[int, str, str], ...], str]:
    """The six questions and the copyright holder, from CLINICAL.md §2 (or the fallback)."""
    if not CLINICAL_MD.is_file():
        return FALLBACK_QUESTIONS, FALLBACK_ATTRIBUTION
    section = _section(CLINICAL_MD.read_text(encoding="utf-8"), 2)
    questions = []
    for line in section.splitlines():
        found = QUESTION_LINE.match(line)
        if found:
            questions.append((int(found.group(1)), found.group(2), found.group(3) or ""))
    holder = re.search(r"\(c\)\s*([^;.\n]+)", section)
    assert holder, "CLINICAL.md §2 names no copyright holder"
    return tuple(questions), holder.group(1).strip()


PUBLISHED, PUBLISHED_HOLDER = _published()
ITEM_IDS = [f"item{number}" for number, _, _ in PUBLISHED]


def test_clinical_md_parsed_into_the_six_published_questions() -> None:
    """Guards the parser: a silently empty or partial parse would make every check vacuous."""
    assert [number for number, _, _ in PUBLISHED] == [1, 2, 3, 4, 5, 6]
    assert all(text for _, text, _ in PUBLISHED)
    if CLINICAL_MD.is_file():
        assert PUBLISHED == FALLBACK_QUESTIONS, "CLINICAL.md §2 changed: update the fallback"


def test_cssrs_has_exactly_six_items_numbered_in_published_order() -> None:
    screener = cssrs()
    assert [i.number for i in screener.items] == [1, 2, 3, 4, 5, 6]
    assert tuple(i.id for i in screener.items) == CSSRS_ITEMS


@pytest.mark.parametrize(("number", "text", "loinc"), PUBLISHED, ids=ITEM_IDS)
def test_cssrs_item_text_is_the_published_text(number: int, text: str, loinc: str) -> None:
    loaded = cssrs().items[number - 1]
    assert loaded.number == number
    assert loaded.text == text


@pytest.mark.parametrize(("number", "text", "loinc"), PUBLISHED, ids=ITEM_IDS)
def test_cssrs_item_carries_the_published_loinc_code(number: int, text: str, loinc: str) -> None:
    assert cssrs().items[number - 1].loinc == loinc


def test_cssrs_texts_in_order_match_clinical_md_as_a_whole() -> None:
    assert [i.text for i in cssrs().items] == [text for _, text, _ in PUBLISHED]
    assert [i.loinc for i in cssrs().items] == [loinc for _, _, loinc in PUBLISHED]


def test_cssrs_attribution_names_the_copyright_holder_and_the_instrument() -> None:
    attribution = cssrs().attribution
    assert PUBLISHED_HOLDER.lower() in attribution.lower()
    assert "C-SSRS" in attribution or "Columbia" in attribution
    assert "(c)" in attribution.lower() or "©" in attribution


def test_cssrs_is_the_since_last_contact_version() -> None:
    screener = cssrs()
    assert "since last contact" in screener.attribution.lower()
    assert "since" in screener.preamble.lower()


def test_cssrs_items_carry_instrument_id_and_version_for_the_log() -> None:
    """Every score is recorded with its instrument version (CLINICAL.md §9)."""
    screener = cssrs()
    assert screener.id and screener.version
    for loaded in screener.items:
        assert loaded.instrument_id == screener.id
        assert loaded.instrument_version == screener.version


def test_cssrs_data_file_itself_holds_the_published_text() -> None:
    """The text lives in versioned data, not in code (CLINICAL.md §2)."""
    raw = tomllib.loads((instruments.DATA / "cssrs_screener_slc.toml").read_text("utf-8"))
    assert raw["version"]
    assert "Research Foundation for Mental Hygiene" in raw["attribution"]
    assert [(r["number"], r["text"], r["loinc"]) for r in raw["items"]] == list(PUBLISHED)


def test_every_checkin_item_has_question_text() -> None:
    for item_id in ALL_ITEMS:
        loaded = item(item_id)
        assert loaded.id == item_id
        assert loaded.text.strip()
        assert loaded.instrument_version


def test_item_lookup_returns_the_cssrs_text_for_cssrs_ids() -> None:
    for number, text, _ in PUBLISHED:
        assert item(f"s{number}").text == text


def test_mood_question_is_zero_worst_to_ten_best() -> None:
    text = checkin_items().mood.text
    assert checkin_items().mood.id == MOOD
    assert re.search(r"0\s*\(worst\)", text)
    assert re.search(r"10\s*\(best\)", text)


@pytest.mark.parametrize("words", RED_FLAG_WORDS, ids=lambda w: w[0])
def test_red_flag_question_lists_every_red_flag_of_section_4(words: tuple[str, ...]) -> None:
    flags = checkin_items().red_flags
    assert flags.id == RED_FLAGS
    for word in words:
        assert word in flags.text.lower()


def test_note_item_can_be_skipped() -> None:
    note = checkin_items().note
    assert note.id == NOTE
    assert "skip" in note.text.lower()
