"""Charts drawn from plain values (no database, no Telegram): SVG for the console, PNG for chats."""

from bot.charts.glance import chart_glance
from bot.charts.mood import (
    MoodChart,
    MoodPoint,
    point_positions,
    render_png,
    render_svg,
    summary_text,
)

__all__ = [
    "MoodChart",
    "MoodPoint",
    "chart_glance",
    "point_positions",
    "render_png",
    "render_svg",
    "summary_text",
]
