"""The response-times chart: per level, the median of each measure over a window as a bar (hours,
log scale), the clinic's target for it as a mark, and the published comparator (1.9 days) as a
line. SVG for the console, drawn with the mood chart's styling and lock."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

from bot.charts.drawing import INK, MOOD, POSITIVE, RC, RENDER_LOCK
from bot.domain.response_times import PUBLISHED_MEDIAN, Measure, Summary, describe
from bot.i18n import C_

_SVG_METADATA: dict[str, Any] = {"Date": None, "Creator": None, "Format": None, "Type": None}
_ROOT_SIZE = re.compile(r'width="[0-9.]+pt" height="[0-9.]+pt"')
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
    buffer = io.StringIO()
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
        FigureCanvasSVG(figure).print_svg(buffer, metadata=_SVG_METADATA)
    text = buffer.getvalue()
    svg = text[text.index("<svg") :]
    svg = svg.replace("*{stroke-linejoin", f"#{dom_id} *{{stroke-linejoin", 1)
    root = (
        f'id="{dom_id}" role="img" aria-labelledby="{dom_id}-title"'
        ' style="max-width:100%;height:auto"'
    )
    svg = _ROOT_SIZE.sub(root, svg, count=1)
    head = svg.index(">") + 1
    medians = "; ".join(
        f"{label}: {describe(s.median)}" for label, s in zip(labels, rows, strict=True)
    )
    said = C_("{title}. Medians: {medians}").format(title=title, medians=medians)
    label = f'\n <title id="{dom_id}-title">{escape(said)}</title>'
    return svg[:head] + label + svg[head:]
