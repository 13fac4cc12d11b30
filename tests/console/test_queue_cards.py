"""The queue's kept case cards (bot.console.lists.case_cards): a kept card is byte for byte the
card drawn at this moment (its waits said at each request's `now`), any change to what it
shows draws it again, one session's card (its CSRF token) is never another's, another language
is another card, and the cache is bounded."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.console.lists import case_cards as queue_cards
from bot.console.web import PREFIX, age, fill_ages, make_environment, reasons_of
from bot.i18n import use_language
from bot.i18n.pseudo import PSEUDO
from bot.messaging.pages import WHO
from bot.services.case_queue import CaseCard, NextRung, PageLine
from storage.models import Case, Patient
from storage.states import CaseStatus, CaseTrigger, Level

OPENED = datetime(2026, 12, 7, 9, 0, 30, 250000, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Berlin")
ENV = make_environment()


def _card(case_id: int = 7, **changes: Any) -> CaseCard:
    values: dict[str, Any] = {
        "level": Level.HIGH,
        "reason": "C-SSRS item 4 yes: some intention of acting",
        "status": CaseStatus.OPEN,
    } | changes
    case = Case(
        id=case_id,
        clinic_id="north",
        patient_id=case_id,
        trigger=CaseTrigger.CHECKIN,
        opened_at=OPENED,
        ladder_started_at=OPENED + timedelta(minutes=2),
        outreach_due_at=OPENED + timedelta(minutes=30),
        **values,
    )
    patient = Patient(
        id=case_id, clinic_id="north", ref=f"P-{case_id}", timezone="UTC", baseline_mood=6
    )
    return CaseCard(
        case=case,
        patient=patient,
        facts=None,
        pages=(PageLine("Dr Ada", OPENED + timedelta(minutes=1), 0, True, None),),
        acknowledged_by=None,
        resolved_by=None,
        next_rung=NextRung(OPENED + timedelta(minutes=17), ("primary", "backup")),
        outreach_overdue="a first contact attempt",
    )


def _context(csrf: str = "token-a") -> dict[str, Any]:
    return {
        "prefix": PREFIX,
        "csrf": csrf,
        "zone": ZONE,
        "back": "queue",
        "who_names": WHO,
        "reasons": lambda card: reasons_of(card.case.reason, ZONE),
    }


def _kept(cards: list[CaseCard], now: datetime, csrf: str = "token-a") -> str:
    return fill_ages(queue_cards.render_cards(ENV, cards, _context(csrf)), now)


def _drawn_now(cards: list[CaseCard], now: datetime, csrf: str = "token-a") -> str:
    """As the queue drew its cards before they were kept: `_case.html` at `now`."""
    template = ENV.get_template("_case.html")
    return "".join(template.render({**_context(csrf), "now": now, "card": c}) for c in cards)


@pytest.fixture(autouse=True)
def empty() -> Iterator[None]:
    queue_cards.forget_all()
    yield
    queue_cards.forget_all()


def test_a_kept_card_says_its_waits_at_each_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    cards = [_card(7), _card(8, acknowledged_at=OPENED + timedelta(minutes=3))]
    first = OPENED + timedelta(minutes=40, seconds=10)
    assert _kept(cards, first) == _drawn_now(cards, first)
    assert "(40 min ago)" in _kept(cards, first)
    drawn: list[object] = []
    monkeypatch.setattr(queue_cards, "CARD", "_case.html")  # the same template, counted:
    real = ENV.get_template

    def counting(name: str, *args: Any, **kwargs: Any) -> Any:
        drawn.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(ENV, "get_template", counting)
    for later in (timedelta(seconds=49), timedelta(seconds=50), timedelta(hours=3, minutes=1)):
        at = first + later
        assert _kept(cards, at) == _drawn_now(cards, at), later  # said anew, to the minute
    assert "_words.html" not in drawn[: drawn.index("_case.html")]  # kept: not drawn again
    monkeypatch.undo()
    assert "(41 min ago)" in _kept(cards, first + timedelta(seconds=50))


def test_any_change_to_the_card_draws_it_again() -> None:
    now = OPENED + timedelta(hours=1)
    base = _card(7)
    _kept([base], now)
    changed = [
        _card(7, status=CaseStatus.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=1),
        replace(
            _card(7, status=CaseStatus.ACKNOWLEDGED, acknowledged_at=now),
            acknowledged_by="Dr Grace",
        ),
        replace(base, pages=(*base.pages, PageLine("Dr Alan", now, 1, False, "blocked"))),
        replace(base, next_rung=None),
        replace(base, outreach_overdue=None),
        _card(7, level=Level.LOW),
        _card(7, reason="mood 2/10 at or below floor 3"),
    ]
    patient = replace(base, patient=Patient(id=7, clinic_id="north", ref="P-77", timezone="UTC"))
    seen = {_kept([base], now)}
    for card in [*changed, patient]:
        shown = _kept([card], now)
        assert shown == _drawn_now([card], now)
        assert shown not in seen  # each change shows (so a kept card would have been wrong)
        seen.add(shown)


def test_one_sessions_card_is_never_anothers() -> None:
    now = OPENED + timedelta(hours=1)
    ada, grace = _kept([_card()], now, csrf="ada-token"), _kept([_card()], now, csrf="grace-token")
    assert 'value="ada-token"' in ada and "grace-token" not in ada
    assert 'value="grace-token"' in grace and "ada-token" not in grace


def test_another_language_is_another_card() -> None:
    now = OPENED + timedelta(hours=1)
    english = _kept([_card()], now)
    with use_language(PSEUDO):
        pseudo = _kept([_card()], now)
        assert pseudo == _drawn_now([_card()], now)
    assert pseudo != english and _kept([_card()], now) == english


def test_at_most_size_cards_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue_cards, "SIZE", 3)
    now = OPENED + timedelta(hours=1)
    for case_id in range(1, 6):
        _kept([_card(case_id)], now)
    assert len(queue_cards._kept) == 3


def test_a_value_that_is_not_plain_data_is_drawn_not_kept() -> None:
    class Opaque:
        pass

    now = OPENED + timedelta(hours=1)
    card = replace(_card(), acknowledged_by=Opaque())  # type: ignore[arg-type]
    with pytest.raises(queue_cards.Unkeyable):
        queue_cards.fingerprint(card)
    _kept([card], now)
    assert len(queue_cards._kept) == 0


def test_a_patients_words_that_look_like_a_mark_are_shown_as_written() -> None:
    now = OPENED + timedelta(hours=1)
    words = f"@@age:{OPENED.isoformat()}|ago@@ and @@age-0:{OPENED.isoformat()}|until@@"
    card = _card(quote=words)
    shown = _kept([card], now)
    assert html.escape(words, quote=False) in shown or words in shown
    assert shown == _drawn_now([card], now)


def test_no_card_is_kept_past_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A card quotes a patient's words: it leaves memory within KEEP_SECONDS, drawn anew."""
    clock = [1000.0]
    monkeypatch.setattr(queue_cards.time, "monotonic", lambda: clock[0])
    now = OPENED + timedelta(hours=1)
    _kept([_card()], now)
    assert len(queue_cards._kept) == 1
    drawn: list[str] = []
    real = ENV.get_template("_case.html").render
    template = ENV.get_template("_case.html")
    monkeypatch.setattr(template, "render", lambda *a, **k: drawn.append("x") or real(*a, **k))
    clock[0] += queue_cards.KEEP_SECONDS - 1
    assert _kept([_card()], now) == _drawn_now([_card()], now)
    assert drawn == ["x"]  # only _drawn_now drew: the kept card served
    clock[0] += 2
    _kept([_card()], now)
    assert drawn == ["x", "x"]  # past its time: drawn again, not served from memory


def test_every_wait_of_a_page_is_said_as_age_says_it_alone() -> None:
    """`fill_ages` says each whole minute once a page; every mark still reads as `age` says
    that mark's own wait: sub-minute, negative, the minute and hour edges, ago and until."""
    now = datetime(2026, 12, 7, 20, 0, 0, 400000, tzinfo=UTC)
    edges = (0, 0.5, 59.999, 60, 60.001, 119, 7199.999, 7200, 7260, 86400 * 3 + 1)
    waits = [timedelta(seconds=s) for s in edges] + [timedelta(seconds=-s) for s in edges]
    waits += [timedelta(seconds=37 * n + 0.37) for n in range(400)]
    env = make_environment()
    marks = env.from_string("{% for at in ats %}[{{ at|ago }}|{{ at|until }}]{% endfor %}")
    page = marks.render(ats=[now - w for w in waits], now=now, ages_later=True)
    assert "@@age-" in page
    expected = "".join(
        f"[{html.escape(age(w), quote=True)}|{html.escape(age(-w), quote=True)}]" for w in waits
    )
    assert fill_ages(page, now) == expected
