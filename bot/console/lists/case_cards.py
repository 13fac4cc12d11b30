"""The queue's case cards, each drawn once and kept while nothing it shows changes (issue 32:
drawing a hundred cards was most of the queue's ~50 ms, on every refresh of every console).

A card is kept under everything `_case.html` reads, compared whole (a dict key, no digest):
every field of the card (every column its case shows, its patient, check-in and infusion,
every page, rung and outreach line), the CSRF token (its forms carry it), the language, the
zone, the prefix and the names of who was paged. A card of frozen records (what
`bot.services.case_queue` gives) is its own key, hashed and compared field by field by its
dataclasses and named tuples; any other (one holding a stored row) is keyed by its
`fingerprint`. `now` is not in it: a card is drawn with its waits left as marks (`|ago`,
`|until`; bot.console.web) that `fill_ages` says at this request's `now`, so a kept card is
byte for byte the card drawn now. The oldest go first once `SIZE` are kept, and none is kept
past `KEEP_SECONDS` (a card quotes a patient's words: a case resolved or a patient erased
leaves no copy in memory for long)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from enum import Enum
from functools import cache
from typing import Any, cast

from jinja2 import Environment
from sqlalchemy import inspect as sa_inspect

from bot.console.web import AGES_LATER
from bot.i18n import current_language

SIZE = 2048  # cards; ~2 KB each
KEEP_SECONDS = 600.0
CARD = "_case.html"
Key = tuple[Any, ...]

_kept: OrderedDict[Key, tuple[float, str]] = OrderedDict()  # (kept at, monotonic; the card)
_lock = threading.Lock()
_PLAIN = frozenset((str, int, float, bool, type(None), datetime, date, timedelta))


class Unkeyable(TypeError):
    """A value a card reads that is not plain data: the card is drawn, not kept."""


@cache
def _fields(kind: type) -> tuple[str, ...] | None:
    """The names that say a value of `kind`: a stored row's columns, a dataclass's fields;
    None for anything else."""
    if hasattr(kind, "__table__"):  # a stored row (SQLModel)
        columns: Iterable[Any] = sa_inspect(kind).column_attrs
        return tuple(attr.key for attr in columns)
    if dataclasses.is_dataclass(kind):
        return tuple(f.name for f in dataclasses.fields(kind))
    return None


def fingerprint(value: Any) -> Any:
    """`value` as plain nested tuples, equal only for equal values: a stored row by every
    column, a dataclass by every field, containers by their items in order."""
    kind = type(value)
    if kind in _PLAIN or isinstance(value, str | Enum):
        return value
    names = _fields(cast(type, kind))
    if names is not None:
        # a loaded column or a field is in the instance's __dict__: read there, not through
        # SQLAlchemy's instrumented attribute (a third of the key's time); else asked for
        known = value.__dict__
        said = (known[name] if name in known else getattr(value, name) for name in names)
        return (kind, *(v if type(v) in _PLAIN else fingerprint(v) for v in said))
    if isinstance(value, list | tuple):
        return tuple(fingerprint(item) for item in value)
    if isinstance(value, dict):
        return tuple((key, fingerprint(item)) for key, item in value.items())
    raise Unkeyable(kind.__name__)


def card_key(card: Any, context: dict[str, Any], language: str) -> Key:
    """What the card shows and how it is said."""
    return (
        _content(card),
        language,
        context["csrf"],
        context["prefix"],
        context["back"],
        str(context["zone"]),
        tuple(context["who_names"].items()),
    )


def _content(card: Any) -> Any:
    """The card itself when it hashes (frozen records of plain values: equal only when every
    field is, and far cheaper than a fingerprint), else its fingerprint."""
    try:
        hash(card)
    except TypeError:  # a stored row in it (unhashable)
        return fingerprint(card)
    return card


def render_cards(env: Environment, cards: Iterable[Any], context: dict[str, Any]) -> str:
    """The cards drawn by `_case.html` with `context` (reasons, who_names, zone, csrf, back,
    prefix), their waits left as marks for `fill_ages`; kept ones not drawn again."""
    language = current_language()
    # without `now`: what a card shows of it is said later (a kept card must not hold it)
    later = {key: value for key, value in context.items() if key != "now"} | {AGES_LATER: True}
    words: Any = None
    drawn = []
    for card in cards:
        try:
            key: Key | None = card_key(card, context, language)
        except Unkeyable:
            key = None
        html = _kept_card(key)
        if html is None:
            if words is None:  # the words of statuses and levels, said once a request
                words = env.get_template("_words.html").make_module(later)
            html = env.get_template(CARD).render({**later, "card": card, "w": words})
            _keep(key, html)
        drawn.append(html)
    return "".join(drawn)


def _kept_card(key: Key | None) -> str | None:
    if key is None:
        return None
    with _lock:
        kept = _kept.get(key)
        if kept is None:
            return None
        if time.monotonic() - kept[0] > KEEP_SECONDS:
            del _kept[key]
            return None
        _kept.move_to_end(key)
        return kept[1]


def _keep(key: Key | None, html: str) -> None:
    if key is None:
        return
    with _lock:
        _kept[key] = (time.monotonic(), html)
        _kept.move_to_end(key)
        while len(_kept) > SIZE:
            _kept.popitem(last=False)


def forget_all() -> None:
    """Empty the kept cards (tests)."""
    with _lock:
        _kept.clear()
