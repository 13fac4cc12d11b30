"""The kept chart SVG (bot.charts.cache): drawn once for the same chart, never one patient's
drawing for another's (the key covers every value drawn, the element id and the language),
and bounded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.charts import MoodChart, MoodPoint, render_svg
from bot.charts import cache as chart_cache
from bot.i18n import use_language
from bot.i18n.pseudo import PSEUDO
from tests.charts.test_mood_chart import END, _chart


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The titles of the charts actually drawn; the cache empty before and after."""
    titles: list[str] = []

    def counting(chart: MoodChart, *, dom_id: str) -> str:
        titles.append(chart.title)
        return render_svg(chart, dom_id=dom_id)

    chart_cache.forget_all()
    monkeypatch.setattr(chart_cache, "render_svg", counting)
    yield titles
    chart_cache.forget_all()


async def test_the_same_chart_is_drawn_once_and_is_what_drawing_it_gives(
    drawn: list[str],
) -> None:
    chart = _chart()
    first = await chart_cache.cached_svg(chart, dom_id="mood")
    again = await chart_cache.cached_svg(_chart(), dom_id="mood")  # equal, not the same object
    assert first == again == render_svg(chart, dom_id="mood")
    assert drawn == [chart.title]


async def test_any_difference_in_what_is_drawn_is_another_drawing(drawn: list[str]) -> None:
    base = _chart()
    other_patient = replace(base, title="Mood of P-2, last 30 days")  # same answers
    moved = list(base.points)
    moved[2] = MoodPoint(moved[2].at, 3, moved[2].cssrs, moved[2].level)
    variants = [
        base,
        other_patient,
        replace(base, points=moved),
        replace(base, baseline=5),
        replace(base, floor=3),
        replace(base, infusions=[*base.infusions, END - timedelta(days=1)]),
        replace(base, tz=ZoneInfo("America/New_York")),
        replace(base, end=END + timedelta(minutes=5), start=base.start + timedelta(minutes=5)),
    ]
    svgs = [await chart_cache.cached_svg(chart, dom_id="mood") for chart in variants]
    assert len(drawn) == len(variants)  # each drawn, none taken for another
    for chart, svg in zip(variants, svgs, strict=True):
        assert svg == render_svg(chart, dom_id="mood")
    assert "P-2" in svgs[1] and "P-2" not in svgs[0]
    elsewhere = await chart_cache.cached_svg(base, dom_id="mood2")
    assert 'id="mood2"' in elsewhere and len(drawn) == len(variants) + 1
    with use_language(PSEUDO):
        said = await chart_cache.cached_svg(base, dom_id="mood")
    assert said != svgs[0] and len(drawn) == len(variants) + 2


async def test_the_cache_keeps_at_most_its_size(
    drawn: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chart_cache, "SIZE", 3)
    charts = [_chart(title=f"Mood of P-{k}, last 30 days") for k in range(5)]
    for chart in charts:
        await chart_cache.cached_svg(chart, dom_id="mood")
    assert len(chart_cache._kept) == 3
    await chart_cache.cached_svg(charts[4], dom_id="mood")  # the newest: kept
    await chart_cache.cached_svg(charts[0], dom_id="mood")  # the oldest: gone, drawn again
    assert [t.split()[2].rstrip(",") for t in drawn] == ["P-0", "P-1", "P-2", "P-3", "P-4", "P-0"]
    assert len(chart_cache._kept) == 3
