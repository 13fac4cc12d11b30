"""The monthly report's mood chart: small multiples, one panel per infusion series with the
patient's mood before → after on the same 0–10 scale. SVG for the console, drawn with the mood
chart's styling and lock; the page gives the same numbers as a table beside it."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib
from matplotlib.figure import Figure

from bot.charts.drawing import INK, MOOD, RC, RENDER_LOCK
from bot.charts.svg import inline_svg
from bot.i18n import C_

COLUMNS = 4
PANEL_IN = (1.8, 1.5)  # inches a panel


def _said(panels: Sequence[tuple[str, int | None, int | None]]) -> str:
    return "; ".join(
        f"{title}: {'—' if before is None else before} → {'—' if after is None else after}"
        for title, before, after in panels
    )


def render_series_svg(
    panels: Sequence[tuple[str, int | None, int | None]],
    *,
    title: str,
    dom_id: str = "mood-series-chart",
) -> str:
    """`panels`: (its title, mood before, mood after) per series; a missing mood is drawn as
    "none"; no panels: one line saying there was no series."""
    columns = max(1, min(COLUMNS, len(panels)))
    rows = max(1, math.ceil(len(panels) / columns))
    with RENDER_LOCK, matplotlib.rc_context({**RC, "svg.hashsalt": f"aftercare:{dom_id}"}):
        figure = Figure(figsize=(PANEL_IN[0] * columns, PANEL_IN[1] * rows + 0.2), dpi=72)
        if not panels:
            figure.set_size_inches(6, 0.8)
            figure.text(0.02, 0.4, C_("No infusion series ended this month."), color=INK)
        for index, (heading, before, after) in enumerate(panels):
            axes = figure.add_subplot(rows, columns, index + 1, gid=f"series-{index}")
            axes.set_xlim(-0.4, 1.4)
            axes.set_ylim(0, 10.5)
            axes.set_xticks([0, 1], [C_("before"), C_("after")])
            axes.set_yticks([0, 5, 10])
            axes.set_title(heading, fontsize=8)
            axes.grid(axis="y")
            xs = [x for x, y in ((0, before), (1, after)) if y is not None]
            ys = [y for y in (before, after) if y is not None]
            if ys:
                style = "-" if len(ys) == 2 else "none"
                axes.plot(xs, ys, color=MOOD, lw=1.6, ls=style, marker="o", ms=5)
            for x, y in ((0, before), (1, after)):
                if y is None:
                    axes.text(x, 5, C_("none"), ha="center", fontsize=7.5, color=INK)
        if panels:
            figure.subplots_adjust(hspace=0.75, wspace=0.35, top=0.9, bottom=0.12)
        said = C_("{title}. Mood before → after: {series}").format(
            title=title, series=_said(panels) or C_("no series")
        )
        return inline_svg(figure, dom_id=dom_id, title=said)
