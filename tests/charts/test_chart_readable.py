"""The console's mood chart read on a phone, from its SVG: type large enough, no clipped point,
dates and axes in words; and the words beside it (issue 28)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.charts import MoodChart, MoodPoint, chart_glance, render_svg
from bot.charts.layout import PHONE, WIDE, Layout, x_limits, y_limits

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"
# The content column of a 390 px phone is ~366 px (94 %); a little less keeps a margin for
# padding a later stylesheet may add.
PHONE_COLUMN_PX = 340
MIN_TEXT_PX = 11
END = datetime(2026, 3, 31, 12, tzinfo=UTC)
START = END - timedelta(days=30)
LONDON = ZoneInfo("Europe/London")
MARKED = ("mood-line", "risk-high", "cssrs-positive", "cssrs-negative")


def _chart(points: list[MoodPoint], start: datetime = START, end: datetime = END) -> MoodChart:
    return MoodChart(
        points=points,
        baseline=6,
        floor=2,
        infusions=[start + timedelta(days=2)],
        tz=LONDON,
        start=start,
        end=end,
        title="Mood of P-1, last 30 days",
    )


def _edges(start: datetime = START, end: datetime = END) -> MoodChart:
    """The first check-in at the period's first instant, the newest at its last: both at the
    extremes of the scale, ringed and screened positive, the hardest points to keep in view."""
    return _chart(
        [
            MoodPoint(start, 0, "positive", "high"),
            MoodPoint(start + (end - start) / 2, 5, "negative", "none"),
            MoodPoint(end, 10, "positive", "imminent"),
        ],
        start,
        end,
    )


def _root(chart: MoodChart) -> ET.Element:
    return ET.fromstring(render_svg(chart, dom_id="c1"))


def _phone_scale(root: ET.Element) -> float:
    """How many CSS px one SVG user unit takes in a phone's column (max-width: 100%)."""
    _, _, view_width, _ = (float(n) for n in root.attrib["viewBox"].split())
    shown = min(float(root.attrib["width"]), PHONE_COLUMN_PX)
    return shown / view_width


def _font_px(text: ET.Element) -> float:
    found = re.search(r"font-size:\s*([0-9.]+)px", text.get("style", ""))
    assert found, f"text {text.text!r} has no font size"
    return float(found.group(1))


def _clip_box(root: ET.Element) -> tuple[float, float, float, float]:
    """The axes' clip rectangle (x0, y0, x1, y1) the mood line is drawn in."""
    line = root.find(f".//{SVG}g[@id='c1-mood-line']/{SVG}path")
    assert line is not None
    clip_id = re.fullmatch(r"url\(#(.+)\)", line.attrib["clip-path"])
    assert clip_id
    rect = root.find(f".//{SVG}clipPath[@id='{clip_id.group(1)}']/{SVG}rect")
    assert rect is not None
    x, y = float(rect.attrib["x"]), float(rect.attrib["y"])
    return x, y, x + float(rect.attrib["width"]), y + float(rect.attrib["height"])


def _reach(marker: ET.Element) -> float:
    """A marker's half extent: the farthest vertex of its path plus half its edge."""
    numbers = [abs(float(n)) for n in re.findall(r"-?[0-9.]+", marker.attrib["d"])]
    stroke = re.search(r"stroke-width:\s*([0-9.]+)", marker.get("style", ""))
    return max(numbers) + (float(stroke.group(1)) / 2 if stroke else 0.5)


def _markers(root: ET.Element, gid: str) -> list[tuple[float, float, float]]:
    """(x, y, reach) of every marker drawn in a group."""
    group = root.find(f".//{SVG}g[@id='c1-{gid}']")
    assert group is not None, gid
    shapes = {p.attrib["id"]: p for p in group.iter(f"{SVG}path") if "id" in p.attrib}
    return [
        (float(u.attrib["x"]), float(u.attrib["y"]), _reach(shapes[u.attrib[XLINK][1:]]))
        for u in group.iter(f"{SVG}use")
    ]


def _tick_labels(root: ET.Element) -> list[str]:
    return [
        "".join(g.itertext()).strip()
        for g in root.iter(f"{SVG}g")
        if re.fullmatch(r"c1-xtick_\d+", g.get("id", ""))
    ]


@pytest.mark.parametrize("chart", [_edges(), _chart([])], ids=["points", "empty"])
def test_every_text_is_at_least_11_px_in_a_phones_column(chart: MoodChart) -> None:
    root = _root(chart)
    scale = _phone_scale(root)
    texts = list(root.iter(f"{SVG}text"))
    assert len(texts) > 10
    small = {t.text: round(_font_px(t) * scale, 1) for t in texts if _font_px(t) * scale < 11}
    assert not small, f"under {MIN_TEXT_PX} px at {PHONE_COLUMN_PX} px wide: {small}"


def test_no_marker_is_clipped_not_the_first_nor_the_newest() -> None:
    root = _root(_edges())
    x0, y0, x1, y1 = _clip_box(root)
    for gid in MARKED:
        for x, y, reach in _markers(root, gid):
            assert x0 <= x - reach and x + reach <= x1, (gid, x, reach, (x0, x1))
            assert y0 <= y - reach and y + reach <= y1, (gid, y, reach, (y0, y1))
    newest = max(_markers(root, "mood-line"))
    screened = max(_markers(root, "cssrs-positive"))
    assert newest[0] == pytest.approx(screened[0]), "the newest point and its C-SSRS mark align"


@pytest.mark.parametrize("layout", [PHONE, WIDE], ids=["svg", "png"])
def test_both_figures_leave_a_markers_reach_at_every_edge(layout: Layout) -> None:
    width_pt, height_pt = layout.axes_pt()
    low, high = x_limits(layout, 100.0, 130.0)
    assert (100 - low) / (high - low) * width_pt == pytest.approx(layout.reach_pt)
    assert (high - 130) / (high - low) * width_pt == pytest.approx(layout.reach_pt)
    bottom, top = y_limits(layout)
    assert (0 - bottom) / (top - bottom) * height_pt == pytest.approx(layout.reach_pt)


def test_dates_read_as_the_clinic_writes_them() -> None:
    root = _root(_edges())
    labels = _tick_labels(root)
    assert len(labels) >= 3, labels
    assert all(re.fullmatch(r"\d{1,2} [A-Z][a-z]{2}", label) for label in labels), labels
    assert labels == ["3 Mar", "10 Mar", "17 Mar", "24 Mar", "31 Mar"], "weekly, to the last day"
    words = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert not re.search(r"\d{4}-[A-Z][a-z]{2}", words), words
    assert "Mood (0–10)" in words
    assert "Date, patient's time (Europe/London)" in words


def test_a_period_across_new_year_names_each_year_once() -> None:
    end = datetime(2026, 1, 12, 12, tzinfo=UTC)
    labels = _tick_labels(_root(_edges(end - timedelta(days=30), end)))
    assert not any(re.search(r"\d{4}-", label) for label in labels), labels
    years = [label for label in labels if re.search(r" \d{4}$", label)]
    assert [y[-4:] for y in years] == ["2025", "2026"], labels
    assert labels == ["15 Dec 2025", "29 Dec", "12 Jan 2026"]


def test_the_svg_is_an_image_with_a_short_name() -> None:
    root = _root(_edges())
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == "Mood of P-1, last 30 days"
    assert "c1-title" in (root.get("aria-labelledby") or "")


NOW = datetime(2026, 12, 6, 16, 20, tzinfo=UTC)


def test_the_glance_says_latest_lowest_and_positive_screens() -> None:
    at = NOW.replace(hour=14, minute=5)  # 6 Dec 14:05 in London (UTC in winter)
    points = [
        MoodPoint(NOW - timedelta(days=20), 1, "positive", "high"),  # before the period
        MoodPoint(at - timedelta(days=5), 2, "positive", "high"),
        MoodPoint(at - timedelta(days=3), 2, "positive", "low"),  # the latest of equal lows
        MoodPoint(at - timedelta(days=2), None, "positive", "none"),
        MoodPoint(at - timedelta(days=1), 5, "negative", "none"),
        MoodPoint(at, 6, None, "none"),
        MoodPoint(NOW + timedelta(hours=1), 0, "positive", "high"),  # after now: not shown
    ]
    chart = _chart(points, NOW - timedelta(days=14), NOW)
    assert chart_glance(chart, now=NOW) == [
        "Latest mood 6/10 on 6 Dec 14:05 (2 h ago)",
        "Lowest 2/10 on 3 Dec",
        "3 positive C-SSRS screens in the last 14 days",
    ]
    assert chart_glance(chart, now=NOW) == chart_glance(chart, now=NOW), "pure"


def test_the_glance_of_a_quiet_period_and_of_last_year() -> None:
    empty = _chart([], NOW - timedelta(days=30), NOW)
    assert chart_glance(empty, now=NOW) == [
        "No mood answers in the last 30 days",
        "No positive C-SSRS screen in the last 30 days",
    ]
    new_year = datetime(2027, 1, 2, 9, 0, tzinfo=UTC)
    one = _chart(
        [MoodPoint(datetime(2026, 12, 30, 21, 0, tzinfo=UTC), 4, "positive", "low")],
        new_year - timedelta(days=7),
        new_year,
    )
    assert chart_glance(one, now=new_year) == [
        "Latest mood 4/10 on 30 Dec 2026 21:00 (2 days ago)",
        "Lowest 4/10 on 30 Dec 2026",
        "1 positive C-SSRS screen in the last 7 days",
    ]
