"""On-call coverage over a stretch of time, and the roster's week grid (pure, time passed in).

Built on `bot.domain.oncall.on_call_at`, the rule the pager uses: who is on call is constant
between two consecutive boundaries (a shift's or a rotation occurrence's start or end), so
asking `on_call_at` once per stretch gives the exact answer for every instant of it. Like the
pager (`bot/dispatch/pager.py`), a rostered clinician who is no longer active counts as nobody.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from bot.domain.oncall import OnCall, Shift, Slot, on_call_at, rotation_shifts

HOURS = tuple(range(24))


@dataclass(frozen=True)
class Roster:
    """What decides who is on call: explicit shifts, the resolved rotation, who is active."""

    shifts: tuple[Shift, ...]
    rotation: tuple[Slot, ...]
    active: frozenset[int]
    zone: ZoneInfo

    def on_call(self, at: datetime) -> OnCall:
        """The primary and backup the pager would page at `at`."""
        found = on_call_at(at, shifts=self.shifts, rotation=self.rotation, zone=self.zone)
        return OnCall(
            primary=found.primary if found.primary in self.active else None,
            backup=found.backup if found.backup in self.active else None,
        )


@dataclass(frozen=True)
class Stretch:
    """[starts_at, ends_at) with the same primary and backup throughout."""

    starts_at: datetime
    ends_at: datetime
    primary: int | None
    backup: int | None

    @property
    def gap(self) -> bool:
        return self.primary is None


@dataclass(frozen=True)
class Block:
    """One local hour of one day: [starts_at, ends_at) in UTC (empty on the hour a clock change
    skips, two hours long on the hour it repeats), and who covers it, stretch by stretch."""

    day: date
    hour: int
    starts_at: datetime
    ends_at: datetime
    stretches: tuple[Stretch, ...]

    @property
    def gap(self) -> bool:
        return any(s.gap for s in self.stretches)

    @property
    def skipped(self) -> bool:
        return self.starts_at >= self.ends_at

    @property
    def repeated(self) -> bool:
        """The hour a clock change repeats: its times need the zone's abbreviation."""
        return self.ends_at - self.starts_at > timedelta(hours=1)

    @property
    def shown(self) -> tuple[Stretch, ...]:
        """The stretches as the cell shows them, to the minute (see `to_the_minute`)."""
        return to_the_minute(self.stretches)


@dataclass(frozen=True)
class WeekGrid:
    """The roster's table: one column per local day, one row per local hour."""

    days: tuple[date, ...]
    blocks: dict[tuple[date, int], Block]
    gaps: tuple[Stretch, ...]  # every stretch with no primary (split where the backup changes)

    def block(self, day: date, hour: int) -> Block:
        return self.blocks[(day, hour)]

    def day(self, day: date) -> tuple[Stretch, ...]:
        """One local day as consecutive stretches, to the minute: an hour-by-hour column with
        its identical neighbours (a night of "no one on call") made one line."""
        merged: list[Stretch] = []
        for hour in HOURS:
            for stretch in self.blocks[(day, hour)].stretches:
                last = merged[-1] if merged else None
                if last is not None and (last.primary, last.backup) == (
                    stretch.primary,
                    stretch.backup,
                ):
                    merged[-1] = replace(last, ends_at=stretch.ends_at)
                else:
                    merged.append(stretch)
        return to_the_minute(merged)

    @property
    def rows(self) -> list[tuple[int, list[Block]]]:
        return [(hour, [self.blocks[(day, hour)] for day in self.days]) for hour in HOURS]


def to_the_minute(stretches: Sequence[Stretch]) -> tuple[Stretch, ...]:
    """Consecutive stretches as a page shows them, in minutes: shifts kept to the second (from
    /oncall, the CLI, the demo) can make a stretch of a few seconds, and two lines would read
    "from 02:36" alike. A stretch that starts in the same minute as the next is folded into it
    (the next starts earlier); neighbours left alike are merged."""
    shown: list[Stretch] = []
    for stretch in stretches:
        last = shown[-1] if shown else None
        if last is not None and _minute(last.starts_at) == _minute(stretch.starts_at):
            stretch = replace(stretch, starts_at=last.starts_at)
            shown.pop()
            last = shown[-1] if shown else None
        if last is not None and (last.primary, last.backup) == (stretch.primary, stretch.backup):
            shown[-1] = replace(last, ends_at=stretch.ends_at)
        else:
            shown.append(stretch)
    return tuple(shown)


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("coverage needs aware datetimes")
    return at.astimezone(UTC)


def coverage(roster: Roster, *, start: datetime, end: datetime) -> list[Stretch]:
    """Who is on call over [start, end), as consecutive stretches (neighbours differ)."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        return []
    edges = {start, end}
    for shift in (
        *roster.shifts,
        *rotation_shifts(roster.rotation, start=start, end=end, zone=roster.zone),
    ):
        for edge in (shift.starts_at, shift.ends_at):
            edge = _utc(edge)
            if start < edge < end:
                edges.add(edge)
    points = sorted(edges)
    stretches: list[Stretch] = []
    for begin, finish in pairwise(points):
        who = roster.on_call(begin)
        last = stretches[-1] if stretches else None
        if last is not None and (last.primary, last.backup) == (who.primary, who.backup):
            stretches[-1] = replace(last, ends_at=finish)
        else:
            stretches.append(Stretch(begin, finish, who.primary, who.backup))
    return stretches


def gaps(roster: Roster, *, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The times in [start, end) with no primary on call, merged."""
    found: list[tuple[datetime, datetime]] = []
    for stretch in coverage(roster, start=start, end=end):
        if not stretch.gap:
            continue
        if found and found[-1][1] == stretch.starts_at:
            found[-1] = (found[-1][0], stretch.ends_at)
        else:
            found.append((stretch.starts_at, stretch.ends_at))
    return found


def opened_gaps(
    before: Roster, after: Roster, *, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The times in [start, end) without a primary after a change that had one before it: the
    gaps a change would open (gaps that were there anyway are not the change's doing)."""
    opened: list[tuple[datetime, datetime]] = []
    for gap_start, gap_end in gaps(after, start=start, end=end):
        cursor = gap_start
        for old_start, old_end in gaps(before, start=gap_start, end=gap_end):
            if old_start > cursor:
                opened.append((cursor, old_start))
            cursor = max(cursor, old_end)
        if cursor < gap_end:
            opened.append((cursor, gap_end))
    merged: list[tuple[datetime, datetime]] = []
    for piece in opened:
        if merged and merged[-1][1] == piece[0]:
            merged[-1] = (merged[-1][0], piece[1])
        else:
            merged.append(piece)
    return merged


def local_hour(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """The UTC instant a local hour starts; an hour a clock change skips starts where the next
    one does (`fold=0`), so its block is empty."""
    return datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)


def week_grid(roster: Roster, *, first_day: date, days: int = 7) -> WeekGrid:
    """The table of `days` local days from `first_day`, hour by hour, in the roster's zone."""
    zone = roster.zone
    dates = tuple(first_day + timedelta(days=n) for n in range(days))
    edges = [local_hour(day, hour, zone) for day in dates for hour in HOURS]
    edges.append(local_hour(dates[-1] + timedelta(days=1), 0, zone))
    for n in range(1, len(edges)):  # a skipped hour is an empty block, never a negative one
        edges[n] = max(edges[n], edges[n - 1])
    stretches = coverage(roster, start=edges[0], end=edges[-1])
    blocks: dict[tuple[date, int], Block] = {}
    index = 0
    for n, (day, hour) in enumerate((d, h) for d in dates for h in HOURS):
        begin, finish = edges[n], edges[n + 1]
        while index < len(stretches) and stretches[index].ends_at <= begin:
            index += 1
        inside = []
        probe = index
        while probe < len(stretches) and stretches[probe].starts_at < finish:
            s = stretches[probe]
            inside.append(
                replace(s, starts_at=max(s.starts_at, begin), ends_at=min(s.ends_at, finish))
            )
            probe += 1
        blocks[(day, hour)] = Block(day, hour, begin, finish, tuple(inside))
    return WeekGrid(dates, blocks, tuple(s for s in stretches if s.gap))


def roster_of(
    *,
    shifts: Sequence[Shift],
    rotation: Sequence[Slot],
    active: Collection[int],
    zone: ZoneInfo,
) -> Roster:
    return Roster(tuple(shifts), tuple(rotation), frozenset(active), zone)
