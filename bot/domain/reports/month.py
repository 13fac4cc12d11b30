"""A report's month: the clinic's calendar month in its time zone, its first and last instants
as UTC boundaries, and its ISO weeks (Monday first) clipped to the month. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.i18n import C_

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


class MonthRefused(ValueError):
    """A month that cannot be reported: malformed, or not begun yet (the sentence says which)."""


@dataclass(frozen=True)
class Week:
    """An ISO week clipped to the month: its label ("2026-W45") and local days."""

    label: str
    first_day: date
    last_day: date


@dataclass(frozen=True)
class Month:
    year: int
    month: int
    zone: ZoneInfo

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def next_first_day(self) -> date:
        return date(self.year + self.month // 12, self.month % 12 + 1, 1)

    @property
    def last_day(self) -> date:
        return self.next_first_day - timedelta(days=1)

    @property
    def start(self) -> datetime:
        """Its first instant (local midnight of the 1st), in UTC."""
        return _midnight(self.first_day, self.zone)

    @property
    def end(self) -> datetime:
        """The first instant after it (local midnight of the next month's 1st), in UTC."""
        return _midnight(self.next_first_day, self.zone)

    def holds(self, at: datetime | None) -> bool:
        return at is not None and self.start <= at < self.end

    def weeks(self) -> list[Week]:
        """Its ISO weeks, Monday first, each clipped to the month's days."""
        found: list[Week] = []
        day = self.first_day
        while day <= self.last_day:
            iso = day.isocalendar()
            sunday = day + timedelta(days=6 - day.weekday())
            found.append(Week(f"{iso.year}-W{iso.week:02d}", day, min(sunday, self.last_day)))
            day = sunday + timedelta(days=1)
        return found

    def week_of(self, at: datetime) -> str:
        """The label of the ISO week an instant falls in, in the clinic's zone."""
        iso = at.astimezone(self.zone).isocalendar()
        return f"{iso.year}-W{iso.week:02d}"


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def last_complete_month(now: datetime, zone: ZoneInfo) -> Month:
    """The month before the one `now` falls in, in the clinic's zone."""
    today = now.astimezone(zone).date()
    before = today.replace(day=1) - timedelta(days=1)
    return Month(before.year, before.month, zone)


def parse_month(text: str | None, *, zone: ZoneInfo, now: datetime) -> Month:
    """`YYYY-MM` as the clinic's month; empty: the last complete month. A month that has not
    begun yet in the clinic's zone is refused (the current month is allowed: so far)."""
    text = (text or "").strip()
    if not text:
        return last_complete_month(now, zone)
    match = _MONTH.fullmatch(text)
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise MonthRefused(
            C_("“{text}” is not a month: write it as YYYY-MM, for example 2026-11.").format(
                text=text[:20]
            )
        )
    month = Month(int(match.group(1)), int(match.group(2)), zone)
    if month.start > now:
        this = now.astimezone(zone)
        raise MonthRefused(
            C_("{month} has not begun yet in the clinic's time (it is {today}).").format(
                month=month.key, today=f"{this:%Y-%m-%d}"
            )
        )
    return month
