"""The four durations of a case and their summary per level (CLINICAL.md §10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.response_times import (
    CaseTimes,
    Measure,
    describe,
    percentile,
    summarise,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def _case(n: int, level: str = "high", *, ack: int | None = 5, tried: int | None = 20,
          reached: int | None = 40, opened: datetime = T0) -> CaseTimes:  # fmt: skip
    paged = opened + MIN
    return CaseTimes(
        case_id=n,
        patient_ref=f"P-{n}",
        level=level,
        opened_at=opened,
        first_paged_at=paged,
        acknowledged_at=paged + ack * MIN if ack is not None else None,
        first_attempt_at=paged + tried * MIN if tried is not None else None,
        reached_at=paged + reached * MIN if reached is not None else None,
    )


def test_each_duration_runs_from_its_start_to_its_end() -> None:
    case = _case(1)
    assert case.duration(Measure.PAGE_TO_ACK) == 5 * MIN
    assert case.duration(Measure.PAGE_TO_ATTEMPT) == 20 * MIN
    assert case.duration(Measure.PAGE_TO_REACHED) == 40 * MIN
    assert case.duration(Measure.ANSWER_TO_REACHED) == 41 * MIN  # from the answer, a minute more


def test_what_has_not_happened_is_absent_not_zero() -> None:
    waiting = _case(2, tried=None, reached=None)
    assert waiting.duration(Measure.PAGE_TO_ATTEMPT) is None
    assert waiting.duration(Measure.ANSWER_TO_REACHED) is None
    unpaged = CaseTimes(3, "P-3", "high", T0, None, None, None, T0 + MIN)
    assert unpaged.duration(Measure.PAGE_TO_REACHED) is None
    assert unpaged.duration(Measure.ANSWER_TO_REACHED) == MIN


def test_percentiles_are_values_that_occurred() -> None:
    values = [n * MIN for n in (1, 2, 3, 4, 100)]
    assert percentile(values, 50) == 3 * MIN
    assert percentile(values, 90) == 100 * MIN
    assert percentile([7 * MIN], 90) == 7 * MIN
    assert percentile([], 50) is None


def test_a_summary_counts_measured_and_waiting_per_level_in_its_window() -> None:
    cases = [
        _case(1, reached=30),
        _case(2, reached=90),
        _case(3, tried=None, reached=None),  # still waiting
        _case(4, "moderate", tried=600, reached=700),
        _case(5, reached=1, opened=T0 - timedelta(days=40)),  # outside a 30-day window
    ]
    now = T0 + timedelta(days=1)
    found = {(s.level, s.measure): s for s in summarise(cases, since=now - timedelta(days=30))}
    high = found[("high", Measure.PAGE_TO_REACHED)]
    assert (high.measured, high.waiting) == (2, 1)
    assert (high.median, high.p90) == (30 * MIN, 90 * MIN)
    assert found[("moderate", Measure.PAGE_TO_ATTEMPT)].median == 600 * MIN
    low = found[("low", Measure.PAGE_TO_ACK)]
    assert (low.measured, low.waiting, low.median) == (0, 0, None)
    wide = {(s.level, s.measure): s for s in summarise(cases, since=now - timedelta(days=90))}
    assert wide[("high", Measure.PAGE_TO_REACHED)].measured == 3


def test_durations_read_at_a_glance() -> None:
    assert describe(None) == "—"
    assert describe(timedelta(seconds=42)) == "42 s"
    assert describe(timedelta(minutes=4)) == "4 min"
    assert describe(timedelta(hours=2.5)) == "2.5 h"
    assert describe(timedelta(days=1.9)) == "45.6 h"
    assert describe(timedelta(days=3)) == "3.0 days"
