"""The mood chart as SVG and PNG: the drawing carries the data, and is accessible and stable."""

from __future__ import annotations

import asyncio
import io
import itertools
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from bot.charts import MoodChart, MoodPoint, point_positions, render_png, render_svg, summary_text
from bot.charts.drawing import MOOD

SVG = "{http://www.w3.org/2000/svg}"
END = datetime(2026, 3, 31, 12, tzinfo=UTC)
START = END - timedelta(days=30)
_DAY = timedelta(days=1)
MOODS = (6, 4, 7, 2, 5)
CSSRS = ("negative", "positive", None, "positive", "negative")
LEVELS = ("none", "low", "none", "high", "none")


def _chart(moods: tuple[int | None, ...] = MOODS, **changes: object) -> MoodChart:
    """Check-ins every five days from day 3, an infusion on days 2 and 16."""
    points = [
        MoodPoint(START + timedelta(days=3 + 5 * i, hours=i), mood, cssrs, level)
        for i, (mood, cssrs, level) in enumerate(zip(moods, CSSRS, LEVELS, strict=False))
    ]
    chart = MoodChart(
        points=points,
        baseline=6,
        floor=2,
        infusions=[START + timedelta(days=2), START + timedelta(days=16)],
        tz=ZoneInfo("Europe/London"),
        start=START,
        end=END,
        title="Mood of P-1, last 30 days",
    )
    return replace(chart, **changes)  # type: ignore[arg-type]


def _svg(chart: MoodChart, dom_id: str = "c1") -> ET.Element:
    return ET.fromstring(render_svg(chart, dom_id=dom_id))


def _group(root: ET.Element, gid: str, dom_id: str = "c1") -> ET.Element:
    found = root.find(f".//{SVG}g[@id='{dom_id}-{gid}']")
    assert found is not None, f"no group {gid}"
    return found


def _uses(group: ET.Element) -> list[tuple[float, float]]:
    return [(float(u.attrib["x"]), float(u.attrib["y"])) for u in group.iter(f"{SVG}use")]


def _vertices(group: ET.Element) -> list[tuple[float, float]]:
    path = group.find(f"{SVG}path")
    assert path is not None
    numbers = [float(n) for n in re.findall(r"-?[0-9.]+", path.attrib["d"])]
    return list(zip(numbers[::2], numbers[1::2], strict=True))


def test_the_mood_line_carries_every_point_in_time_order_and_to_scale() -> None:
    root = _svg(_chart())
    line = _group(root, "mood-line")
    vertices = _vertices(line)
    assert len(vertices) == len(MOODS)
    assert _uses(line) == vertices, "one marker on each vertex"
    xs = [x for x, _ in vertices]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    gaps = [b - a for a, b in itertools.pairwise(xs)]
    assert max(gaps) - min(gaps) < 0.5, "equal time steps are equal steps on screen"
    ys = [y for _, y in vertices]
    per_point = (ys[0] - ys[1]) / (MOODS[0] - MOODS[1])
    assert per_point < 0, "a higher mood is drawn higher (smaller SVG y)"
    for y, mood in zip(ys, MOODS, strict=True):
        assert y == pytest.approx(ys[0] + per_point * (mood - MOODS[0]), abs=0.01)


def test_baseline_floor_screeners_infusions_and_high_risk_are_marked() -> None:
    chart = _chart()
    root = _svg(chart)
    (_, y0), (_, y1) = _vertices(_group(root, "mood-line"))[:2]
    per_point = (y0 - y1) / (MOODS[0] - MOODS[1])
    for _, y in _vertices(_group(root, "baseline")):
        assert y == pytest.approx(y0 + per_point * (6 - MOODS[0]))
    _group(root, "floor")
    assert len(_uses(_group(root, "cssrs-positive"))) == CSSRS.count("positive")
    assert len(_uses(_group(root, "cssrs-negative"))) == CSSRS.count("negative")
    infusions = [
        g for g in root.iter(f"{SVG}g") if re.fullmatch(r"c1-infusion-\d+", g.get("id", ""))
    ]
    assert len(infusions) == len(chart.infusions)
    (ring,) = _uses(_group(root, "risk-high"))
    assert ring == _vertices(_group(root, "mood-line"))[LEVELS.index("high")]


def test_the_svg_is_labelled_by_its_title_and_summary() -> None:
    chart = _chart()
    text = render_svg(chart, dom_id="c1")
    assert text.startswith("<svg") and "<?xml" not in text and "DOCTYPE" not in text
    root = ET.fromstring(text)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c1-title c1-desc"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and desc is not None
    assert (title.get("id"), desc.get("id")) == ("c1-title", "c1-desc")
    assert title.text == chart.title
    assert desc.text == summary_text(chart)
    assert "Mood of P-1" in (_group(root, "heading").findtext(f".//{SVG}text") or "")


def test_ids_are_unique_so_two_charts_can_share_a_page() -> None:
    first, second = render_svg(_chart(), dom_id="a"), render_svg(_chart(), dom_id="b")
    ids_a, ids_b = (re.findall(r'\bid="([^"]+)"', svg) for svg in (first, second))
    assert len(ids_a) == len(set(ids_a)) and len(ids_b) == len(set(ids_b))
    assert not set(ids_a) & set(ids_b)
    assert "#a *{" in first, "the default style is scoped to its own chart"
    with pytest.raises(ValueError):
        render_svg(_chart(), dom_id='x" onload="alert(1)')


def test_equal_data_gives_equal_bytes_and_other_data_other_bytes() -> None:
    assert render_svg(_chart()) == render_svg(_chart())
    assert render_png(_chart()) == render_png(_chart())
    changed = _chart(moods=(6, 4, 7, 3, 5))
    assert render_svg(changed) != render_svg(_chart())
    assert render_png(changed) != render_png(_chart())


def test_an_empty_chart_says_so_and_is_still_valid() -> None:
    chart = _chart(moods=(), infusions=[], baseline=None)
    root = _svg(chart)
    assert "No mood answers yet" in "".join(root.itertext())
    assert root.find(f".//{SVG}g[@id='c1-mood-line']") is None
    assert "No mood answers yet" in summary_text(chart)
    assert point_positions(chart, 720, 300) == []
    assert Image.open(io.BytesIO(render_png(chart))).size == (720, 300)


def test_the_summary_says_what_the_chart_shows() -> None:
    text = summary_text(_chart())
    for part in (
        "5 check-ins with a mood answer",
        "from 6 to 5",
        "lowest 2, highest 7",
        "Baseline 6",
        "1 at or below the mood floor of 2",
        "C-SSRS: 2 positive of 4 screeners",
        "1 check-in at high risk",
        "2 infusions: 3 Mar, 17 Mar",
    ):
        assert part in text, text
    crowded = _chart(infusions=[START + timedelta(hours=h) for h in range(1, 700, 3)])
    crowded = replace(crowded, title="T" * 600)
    assert len(summary_text(crowded)) <= 900


def test_points_and_infusions_outside_the_period_are_left_out() -> None:
    chart = _chart()
    early = MoodPoint(START - timedelta(days=1), 9, "positive", "high")
    wider = replace(chart, points=[early, *chart.points], infusions=[*chart.infusions, END + _DAY])
    assert render_svg(wider) == render_svg(chart)


def _close(pixel: tuple[int, ...], colour: str, tolerance: int = 24) -> bool:
    want = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], want, strict=True))


def test_the_png_has_the_size_and_draws_the_points_where_they_are_said_to_be() -> None:
    chart = _chart()
    data = render_png(chart)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data)).convert("RGB")
    assert image.size == (720, 300)
    positions = point_positions(chart, 720, 300)
    assert len(positions) == len(MOODS)
    for x, y in positions:
        assert _close(image.getpixel((round(x), round(y))), MOOD), (x, y)  # type: ignore[arg-type]
    assert positions[2][1] < positions[0][1], "mood 7 is above mood 6"
    for corner in ((3, 3), (716, 296)):
        assert image.getpixel(corner) == (255, 255, 255)
    big = Image.open(io.BytesIO(render_png(chart, dpi=200)))
    assert big.size == (1440, 600)
    for (x, y), (bx, by) in zip(positions, point_positions(chart, 1440, 600), strict=True):
        assert (bx, by) == (pytest.approx(2 * x), pytest.approx(2 * y))


async def test_renders_from_threads_side_by_side_agree() -> None:
    charts = [_chart(), _chart(moods=(1, 2, 3, 4, 5))] * 3
    pngs = await asyncio.gather(*(asyncio.to_thread(render_png, c) for c in charts))
    svgs = await asyncio.gather(*(asyncio.to_thread(render_svg, c) for c in charts))
    assert pngs[0::2] == [render_png(charts[0])] * 3 and pngs[1::2] == [render_png(charts[1])] * 3
    assert len(set(svgs)) == 2
