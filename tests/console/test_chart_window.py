"""The timeline's chart window ends on the next five-minute step (bot.console.patients
`chart_end`), so an unchanged chart is the same chart, and its drawing is kept, for five
minutes: never before `now`, never a step later than needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.console.patients import CHART_STEP, chart_end


def test_the_window_ends_on_the_next_step_never_before_now() -> None:
    on_step = datetime(2026, 12, 7, 12, 5, tzinfo=UTC)
    assert chart_end(on_step) == on_step
    for late in (timedelta(microseconds=1), timedelta(seconds=1), timedelta(minutes=4, seconds=59)):
        assert chart_end(on_step + late) == on_step + CHART_STEP
    ends = {chart_end(on_step + timedelta(seconds=s)) for s in range(1, 300)}
    assert ends == {on_step + CHART_STEP}  # one chart for the whole step
    assert chart_end(on_step + CHART_STEP + timedelta(seconds=1)) == on_step + 2 * CHART_STEP
