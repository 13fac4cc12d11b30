"""The response-times chart: per level, the median of each measure over a window as a bar (hours,
log scale), the clinic's target for it as a mark, and the published comparator (1.9 days) as a
line. SVG for the console, drawn with the mood chart's styling and lock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
from matplotlib.figure import Figure

from bot.charts.drawing import INK, MOOD, POSITIVE, RC, RENDER_LOCK
from bot.charts.svg import inline_svg
from bot.domain.response_times import PUBLISHED_MEDIAN, Measure, Summary, describe
from bot.i18n import C_

TARGET = "#1a7f37"
MIN_HOURS = 1 / 60  # a minute: the log scale's floor


def _hours(summary: Summary) -> float | None:
    return summary.median.total_seconds() / 3600 if summary.median is not None else None


def render_response_svg(
    summaries: Sequence[Summary],
    targets: Mapping[tuple[str, Measure], float],
    *,
    title: str,
    dom_id: str = "response-chart",
) -> str:
    """`targets`: (level, measure) → hours. Rows without a measured case show "none yet"."""
    rows = [s for s in summaries if s.measure is not Measure.PAGE_TO_ACK or s.measured]
    labels = [f"{s.level.upper()} · {s.measure.label}" for s in rows]
    with RENDER_LOCK, matplotlib.rc_context({**RC, "svg.hashsalt": f"aftercare:{dom_id}"}):
        figure = Figure(figsize=(7.2, 0.32 * len(rows) + 1.0), dpi=72)
        axes = figure.add_axes((0.42, 0.12, 0.55, 0.8))
        for y, summary in enumerate(rows):
            hours = _hours(summary)
            if hours is None:
                axes.text(MIN_HOURS * 1.2, y, C_("none yet"), va="center", fontsize=8, color=INK)
            else:
                axes.barh(y, max(hours, MIN_HOURS), color=MOOD, height=0.6, gid=f"bar-{y}")
            target = targets.get((summary.level, summary.measure))
            if target is not None:
                axes.plot([target], [y], marker="|", ms=14, mew=2.5, color=TARGET, ls="none")
        published = PUBLISHED_MEDIAN.total_seconds() / 3600
        axes.axvline(published, color=POSITIVE, ls="--", lw=1.2, gid="published")
        axes.set_xscale("log")
        axes.set_xlim(MIN_HOURS, max(published * 3, 24 * 7))
        axes.set_yticks(range(len(rows)), labels)
        axes.invert_yaxis()
        axes.set_xlabel(C_("hours (log scale); | target; dashed: published median 1.9 days"))
        axes.grid(axis="x")
        medians = "; ".join(
            f"{label}: {describe(s.median)}" for label, s in zip(labels, rows, strict=True)
        )
        said = C_("{title}. Medians: {medians}").format(title=title, medians=medians)
        return inline_svg(figure, dom_id=dom_id, title=said)
