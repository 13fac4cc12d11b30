"""Crisis-language matching in free text (CLINICAL.md §5): tolerant, whole-word, never raising."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.clinic_config import DEFAULT_CRISIS_TERMS
from bot.domain.crisis_terms import CrisisMatcher

MATCHER = CrisisMatcher(DEFAULT_CRISIS_TERMS)

POSITIVE = [
    ("I took 800mg of ibuprofen", {"800mg", "ibuprofen"}),
    ("took 800 mg earlier", {"800mg"}),
    ("800MG", {"800mg"}),
    ("800-mg tablets", {"800mg"}),
    ("thinking about an OD", {"od"}),
    ("I might OD tonight.", {"od"}),
    ("everyone would be better off if I was dead", {"better off dead"}),
    ("better off... dead", {"better off dead"}),
    ("they'd all be better off, honestly, dead", {"better off dead"}),
    ("I want to kill myself", {"kill myself"}),
    ("kill   myself", {"kill myself"}),
    ("kill-myself", {"kill myself"}),
    ("killmyself", {"kill myself"}),
    ("I keep thinking about killing myself", {"killing myself"}),
    ("I just want to die", {"want to die"}),
    ("i wanna die lol", {"wanna die"}),
    ("I want to end my life", {"end my life"}),
    ("maybe I should end it all", {"end it all"}),
    ("there is no reason to live", {"no reason to live"}),
    ("I thought about self harm", {"self harm", "self-harm"}),
    ("history of self-harm", {"self harm", "self-harm"}),
    ("I want to hurt myself", {"hurt myself"}),
    ("I cut myself again", {"cut myself"}),
    ("started cutting again", {"cutting"}),
    ("I'm having suicidal thoughts", {"suicidal", "suicide"}),  # "suicid-al": stem
    ("thinking of suicide", {"suicide"}),
    ("I have a lot of pills saved", {"pills"}),
    ("my sleeping pills are in the drawer", {"sleeping pills", "pills"}),
    ("a whole bottle of Tylenol", {"tylenol"}),
    ("acetaminophen and paracetamol", {"acetaminophen", "paracetamol"}),
    ("I looked up how to tie a noose", {"noose"}),
    ("I want to hang myself", {"hang myself"}),
    ("I could jump off the bridge", {"jump off"}),
    ("there is a gun at home", {"gun"}),
    ("I nearly overdosed", {"overdose"}),
    ("overdosing scares me", {"overdose"}),
    ("an overdose", {"overdose"}),
]

CALM = [
    "feeling good today",
    "I coded all day",
    "the odds are good",
    "that was odd",
    "kill time before dinner",
    "die-hard fan of the team",
    "I'm putting the kettle on",
    "my nose is stuffy",
    "I spilled the spills",
    "begun a new book",
    "I wanted to go dancing",
    "selfie with my dog",
    "harmless fun",
    "the code review went well",
    "slept well, ate breakfast, walked the dog",
    "everything is fine, thanks for checking",
    "I feel much better off the meds' side effects",
    "",
    "   ",
]


@pytest.mark.parametrize(("text", "expected"), POSITIVE)
def test_default_terms_match_crisis_messages(text: str, expected: set[str]) -> None:
    assert set(MATCHER.find(text)) == expected


@pytest.mark.parametrize("text", CALM)
def test_default_terms_ignore_calm_messages(text: str) -> None:
    assert MATCHER.find(text) == []


@pytest.mark.parametrize(
    "text",
    ["SUICIDE", "Suicide", "suïcide", "súicídé", "ＳＵＩＣＩＤＥ", "suiiiicide", "suuuiicide"],
)
def test_case_accents_width_and_stretching(text: str) -> None:
    assert MATCHER.find(text) == ["suicide"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("su1c1de", ["suicide"]),
        ("$uicide", ["suicide"]),
        ("0verd0se", ["overdose"]),
        ("k1ll mys3lf", ["kill myself"]),
        ("ki11 myself", ["kill myself"]),
        ("w@nt t0 d1e", ["want to die"]),
        ("I want to diiie", ["want to die"]),
        ("K1LLL MYSELF", ["kill myself"]),
    ],
)
def test_leetspeak_and_repeated_letters(text: str, expected: list[str]) -> None:
    assert MATCHER.find(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sucide", ["suicide"]),
        ("suicdie", ["suicide"]),
        ("suicidee", ["suicide"]),
        ("overdoes", ["overdose"]),
        ("ibuprofin", ["ibuprofen"]),
        ("acetominophen", ["acetaminophen"]),
        ("paracetemol", ["paracetamol"]),
        ("cuting", ["cutting"]),
    ],
)
def test_one_typo_in_long_words(text: str, expected: list[str]) -> None:
    assert MATCHER.find(text) == expected


@pytest.mark.parametrize(
    "text", ["odd", "good", "code", "ods", "o d", "gunner", "spills", "pillsbury", "nose"]
)
def test_short_words_are_whole_and_exact(text: str) -> None:
    assert MATCHER.find(text) == []


def test_typos_never_in_the_first_letter_nor_two_edits() -> None:
    assert MATCHER.find("putting") == []  # not "cutting"
    assert MATCHER.find("sucdie") == []  # two edits
    assert MATCHER.find("overdosingly") == []  # more than three suffix letters


def test_digits_in_terms_are_literal() -> None:
    assert MATCHER.find("8000mg") == []
    assert MATCHER.find("80mg") == []
    assert MATCHER.find("took 800 of them") == []
    assert CrisisMatcher(["988"]).find("called 988 today") == ["988"]
    assert CrisisMatcher(["988"]).find("called 9880 today") == []


def test_intervening_words_are_limited_and_stay_in_one_sentence() -> None:
    assert MATCHER.find("better off when I'm dead") == ["better off dead"]  # three words
    assert MATCHER.find("better off if only I was dead") == []  # four words
    assert MATCHER.find("I'd be better off at home. The plant is dead") == []
    assert MATCHER.find("kill time, then myself") == ["kill myself"]
    assert MATCHER.find("myself kill") == []  # order matters


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("💊", ["💊"]),
        ("💊\ufe0f", ["💊"]),
        ("took these💊💊", ["💊"]),
        ("🔪", ["🔪"]),
        ("⚰️", ["⚰️"]),
        ("⚰", ["⚰️"]),
        ("⚰\ufe0e", ["⚰️"]),
        ("🙂", []),
    ],
)
def test_emoji_with_or_without_variation_selector(text: str, expected: list[str]) -> None:
    assert MATCHER.find(text) == expected


def test_results_in_config_order_and_deduplicated() -> None:
    text = "🔪 suicide pills suicide 800mg"
    assert MATCHER.find(text) == ["suicide", "pills", "800mg", "🔪"]
    assert CrisisMatcher(["pills", "suicide", "pills"]).find(text) == ["pills", "suicide"]


def test_custom_terms() -> None:
    matcher = CrisisMatcher(["Selbstmord", "me quiero morir", "can't go on", "☠️", "", "  ", "-"])
    assert matcher.find("ich denke an SELBSTMORD") == ["Selbstmord"]
    assert matcher.find("a veces me quiero morir") == ["me quiero morir"]
    assert matcher.find("I can't go on") == ["can't go on"]
    assert matcher.find("I cant go on") == ["can't go on"]
    assert matcher.find("☠") == ["☠️"]
    assert matcher.find("all good - nothing to report") == []
    assert matcher.find("suicide") == []  # only the configured terms
    assert CrisisMatcher([]).find("suicide 💊") == []


def test_empty_and_separator_only_text() -> None:
    for text in ["", " ", "\n\t", "...", "_", "\ufe0f", "\u0301"]:
        assert MATCHER.find(text) == []


def test_huge_unicode_text_is_fast() -> None:
    words = ["héllo", "ça", "va", "good", "odds", "coded", "putting", "spills", "800", "🙂"]
    text = " ".join(words[i % len(words)] + str(i % 7) for i in range(2000))[:4096]
    hit = text[:-20] + " I want to kill myself"
    MATCHER.find(text)
    started = time.perf_counter()
    for _ in range(5):
        assert MATCHER.find(text) == []
    assert MATCHER.find(hit) == ["kill myself"]
    assert (time.perf_counter() - started) / 6 < 0.05


def test_lone_surrogates_and_odd_code_points() -> None:
    assert MATCHER.find("\ud800 suicide \udfff \x00 \U0010ffff") == ["suicide"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_never_raises_and_only_reports_configured_terms(text: str) -> None:
    found = MATCHER.find(text)
    assert set(found) <= set(DEFAULT_CRISIS_TERMS)
    assert len(found) == len(set(found))


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(max_size=20), max_size=5), st.text(max_size=100))
def test_any_terms_never_raise(terms: list[str], text: str) -> None:
    found = CrisisMatcher(terms).find(text)
    assert set(found) <= set(terms)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from([text for text, _ in POSITIVE] + ["su1c1de", "💊", "⚰", "sucide"]),
    st.text(max_size=200),
    st.booleans(),
)
def test_more_text_never_removes_a_match(message: str, extra: str, before: bool) -> None:
    combined = f"{extra} {message}" if before else f"{message} {extra}"
    assert set(MATCHER.find(message)) <= set(MATCHER.find(combined))


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=150), st.text(max_size=150))
def test_monotonic_for_any_text(first: str, second: str) -> None:
    combined = MATCHER.find(f"{first} {second}")
    assert set(MATCHER.find(first)) <= set(combined)
    assert set(MATCHER.find(second)) <= set(combined)
