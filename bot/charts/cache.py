"""The mood chart's SVG kept by what it shows: an unchanged chart is drawn once, not on every
look at a timeline (matplotlib's SVG is most of a timeline's server time; issue 32).

The key is a hash of everything the drawing reads: the chart's values (points, baseline,
floor, infusions, zone, window, title), the element id and the language its labels are said
in. A changed answer, a new check-in or a moved window is a new key; the oldest entries go
first once `SIZE` are kept."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict

from bot.charts.mood import MoodChart, render_svg
from bot.i18n import current_language

SIZE = 256  # charts; an SVG is ~60 KB, so at most ~15 MB

_kept: OrderedDict[str, str] = OrderedDict()
_lock = threading.Lock()


def chart_key(chart: MoodChart, *, dom_id: str, language: str) -> str:
    """What identifies the drawing: the chart's values, the element id and the language."""
    return hashlib.sha256(f"{chart!r}\0{dom_id}\0{language}".encode()).hexdigest()


def _kept_svg(key: str) -> str | None:
    with _lock:
        svg = _kept.get(key)
        if svg is not None:
            _kept.move_to_end(key)
        return svg


def _keep(key: str, svg: str) -> None:
    with _lock:
        _kept[key] = svg
        _kept.move_to_end(key)
        while len(_kept) > SIZE:
            _kept.popitem(last=False)


async def cached_svg(chart: MoodChart, *, dom_id: str) -> str:
    """`render_svg(chart, dom_id=...)`, drawn in a thread only when not kept already."""
    key = chart_key(chart, dom_id=dom_id, language=current_language())
    svg = _kept_svg(key)
    if svg is None:
        # to_thread copies the context, so the labels are said in the same language
        svg = await asyncio.to_thread(render_svg, chart, dom_id=dom_id)
        _keep(key, svg)
    return svg


def forget_all() -> None:
    """Empty the cache (tests)."""
    with _lock:
        _kept.clear()
