"""Caring contacts' schedules, send window, stable minute and quiet hours (CLINICAL.md §12)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from bot.clinic_caring import CaringConfig
from bot.domain.caring import (
    COMTOIS,
    VA,
    SendWindow,
    add_months,
    next_slot,
    offsets,
    plan_track,
    sendable_now,
    slot_minute,
)
from bot.domain.schedule import QuietHours

NY = ZoneInfo("America/New_York")
WINDOW = SendWindow(time(10, 0), time(18, 0))
QUIET = QuietHours(time(22, 0), time(8, 0))
START = datetime(2026, 1, 15, 20, 0, tzinfo=UTC)  # 15:00 in New York


def _plan(schedule: tuple[tuple[int, int], ...], *, track_id: int = 7) -> list[datetime]:
    return plan_track(
        track_id=track_id, started_at=START, schedule=schedule, zone=NY, window=WINDOW, quiet=QUIET
    )


def test_comtois_is_the_literal_reading_of_clinical_12() -> None:
    days = [d.astimezone(NY).date() for d in _plan(COMTOIS)]
    assert days == [
        date(2026, 1, 16),  # day 1
        date(2026, 1, 22),  # week 1
        date(2026, 2, 15),
        date(2026, 3, 15),
        date(2026, 4, 15),
        date(2026, 5, 15),  # monthly, months 1-4
        date(2026, 7, 15),
        date(2026, 9, 15),
        date(2026, 11, 15),
        date(2027, 1, 15),  # every other month to month 12
    ]


def test_va_nine_letters() -> None:
    days = [d.astimezone(NY).date() for d in _plan(VA)]
    assert len(days) == 9
    assert days[0] == date(2026, 1, 16) and days[-1] == date(2027, 1, 15)
    assert [d.month for d in days[1:5]] == [2, 3, 4, 5]


def test_custom_days_sorted_once() -> None:
    assert offsets("custom", (30, 2, 2)) == ((2, 0), (30, 0))
    days = [d.astimezone(NY).date() for d in _plan(offsets("custom", (2, 30)))]
    assert days == [date(2026, 1, 17), date(2026, 2, 14)]


def test_every_message_inside_the_window_at_a_stable_minute() -> None:
    first, again = _plan(COMTOIS), _plan(COMTOIS)
    assert first == again  # a restart plans the same minutes
    for due in first:
        assert WINDOW.start <= due.astimezone(NY).time() < WINDOW.end
    assert len({d.astimezone(NY).time() for d in first}) > 1  # not one fixed time
    assert _plan(COMTOIS, track_id=8) != first


def test_quiet_hours_inside_the_window_are_avoided() -> None:
    quiet = QuietHours(time(9, 0), time(17, 0))  # covers most of the window
    for number in range(1, 30):
        at = slot_minute(3, number, WINDOW)
        due = next_slot(after=START, track_id=3, number=number, zone=NY, window=WINDOW, quiet=quiet)
        local = due.astimezone(NY).time()
        assert not quiet.contains(local) and WINDOW.start <= local < WINDOW.end
        if not quiet.contains(at):
            assert local == at


def test_a_held_message_goes_at_the_next_window() -> None:
    late = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # 18:30 New York: the window has closed
    due = next_slot(after=late, track_id=1, number=4, zone=NY, window=WINDOW, quiet=QUIET)
    assert due.astimezone(NY).date() == date(2026, 3, 3)
    assert sendable_now(due, NY, WINDOW, QUIET)
    assert not sendable_now(late, NY, WINDOW, QUIET)


def test_month_end_is_clamped() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)


def test_a_question_is_refused() -> None:
    with pytest.raises(ValidationError, match="asks nothing"):
        CaringConfig(texts=["How are you doing?"])
    with pytest.raises(ValidationError, match="custom_days"):
        CaringConfig(schedule="custom")
    with pytest.raises(ValidationError, match="send window"):
        CaringConfig(window_start=time(18, 0), window_end=time(10, 0))


def test_text_signed_with_footer() -> None:
    config = CaringConfig(texts=["First.", "Later."], signed_by="Dr Ana Ruiz")
    assert config.text_of(1).startswith("First.\n— Dr Ana Ruiz")
    assert config.text_of(5).startswith("Later.")
    assert "988" in config.text_of(1) and "Mon–Fri 9–5" in config.text_of(1)
    assert "?" not in config.text_of(1)
