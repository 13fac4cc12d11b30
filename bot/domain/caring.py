"""Caring contacts (CLINICAL.md §12): when each message of a track is due (pure, no I/O).

Rules:
1. A track's offsets are (days, months) after its start, counted on the patient's local
   calendar: "day 1" is the local date after the start, "month 3" the same local day three
   months on (clamped to the month's last day).
2. Each message falls on its local date at a minute inside the send window [start, end)
   chosen by a hash of (track id, number): the same on every instance and after a restart,
   different from message to message so they do not read as automated.
3. A time inside the clinic's quiet hours moves to their end (`schedule.defer_past_quiet_hours`);
   a time that then falls outside the window moves to the next local day's slot.
4. `next_slot`: a message held back (a case open, the dispatcher down) goes at its minute in
   the next window that is not in quiet hours, from `after` on.

Schedules as written in CLINICAL.md §12. Read literally, "day 1, week 1, monthly for months 1–4,
then every other month to month 12" is 10 messages and "monthly for 4 months, then every other
month to 12" is 8; the VA's letters add one soon after the start (the day after), giving 9. The
Comtois list below is the literal reading (10): its eleventh message is not named in §12 and is
left to clinical review rather than guessed.
"""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain.schedule import QuietHours, defer_past_quiet_hours, resolve_local

Offset = tuple[int, int]  # (days, months) after the start's local date

COMTOIS: tuple[Offset, ...] = (
    (1, 0),
    (7, 0),
    (0, 1),
    (0, 2),
    (0, 3),
    (0, 4),
    (0, 6),
    (0, 8),
    (0, 10),
    (0, 12),
)
VA: tuple[Offset, ...] = ((1, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 6), (0, 8), (0, 10), (0, 12))
SCHEDULES: dict[str, tuple[Offset, ...]] = {"comtois11": COMTOIS, "va9": VA}


@dataclass(frozen=True)
class SendWindow:
    """Local hours [start, end) in which caring messages go out."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError("the send window must start before it ends, within one day")

    @property
    def minutes(self) -> int:
        return (self.end.hour * 60 + self.end.minute) - (self.start.hour * 60 + self.start.minute)


def offsets(schedule: str, custom_days: tuple[int, ...] = ()) -> tuple[Offset, ...]:
    """The offsets of a named schedule, or the custom days (sorted, each once)."""
    if schedule == "custom":
        return tuple((days, 0) for days in sorted(set(custom_days)))
    return SCHEDULES[schedule]


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the last day of a shorter month."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def slot_minute(track_id: int, number: int, window: SendWindow) -> time:
    """A stable minute in the window for one message (rule 2)."""
    digest = hashlib.sha256(f"caring:{track_id}:{number}".encode()).digest()
    minute = int.from_bytes(digest[:4], "big") % window.minutes
    total = window.start.hour * 60 + window.start.minute + minute
    return time(total // 60, total % 60)


def _slot_on(
    day: date, at: time, zone: ZoneInfo, window: SendWindow, quiet: QuietHours | None
) -> datetime | None:
    """The instant for `at` on `day`, past quiet hours; None when that leaves the window."""
    instant = defer_past_quiet_hours(resolve_local(day, at, zone), zone, quiet)
    local = instant.astimezone(zone)
    if local.date() != day or not window.start <= local.time() < window.end:
        return None
    return instant


def next_slot(
    *,
    after: datetime,
    track_id: int,
    number: int,
    zone: ZoneInfo,
    window: SendWindow,
    quiet: QuietHours | None,
    earliest_day: date | None = None,
) -> datetime:
    """The first instant at or after `after` (and on or after `earliest_day`) at this message's
    minute in the window and outside quiet hours (rules 2–4)."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    at = slot_minute(track_id, number, window)
    day = after.astimezone(zone).date()
    if earliest_day is not None and earliest_day > day:
        day = earliest_day
    for _ in range(366):
        found = _slot_on(day, at, zone, window, quiet)
        if found is None:  # quiet hours cover this minute: the window's first free minute
            found = _slot_on(day, window.start, zone, window, quiet)
        if found is not None and found >= after:
            return found.astimezone(UTC)
        day += timedelta(days=1)
    raise ValueError("quiet hours cover the whole send window: no time to send")


def plan_track(
    *,
    track_id: int,
    started_at: datetime,
    schedule: tuple[Offset, ...],
    zone: ZoneInfo,
    window: SendWindow,
    quiet: QuietHours | None,
) -> list[datetime]:
    """The due times (UTC) of a track's messages, numbered from 1 in schedule order."""
    if started_at.tzinfo is None:
        raise ValueError("started_at must be timezone-aware")
    start_day = started_at.astimezone(zone).date()
    due: list[datetime] = []
    for number, (days, months) in enumerate(schedule, start=1):
        day = add_months(start_day, months) + timedelta(days=days)
        due.append(
            next_slot(
                after=started_at,
                track_id=track_id,
                number=number,
                zone=zone,
                window=window,
                quiet=quiet,
                earliest_day=day,
            )
        )
    return due


def sendable_now(
    now: datetime, zone: ZoneInfo, window: SendWindow, quiet: QuietHours | None
) -> bool:
    """Whether `now` is inside the send window and outside quiet hours, locally."""
    local = now.astimezone(zone).time()
    in_quiet = quiet is not None and quiet.contains(local)
    return window.start <= local < window.end and not in_quiet


def refuse_question(text: str) -> str | None:
    """A caring message asks nothing (CLINICAL.md §12): the problem with `text`, if any."""
    if "?" in text:
        return "a caring message asks nothing: remove the question mark (no reply is required)"
    if not text.strip():
        return "a caring message cannot be empty"
    return None
