"""A check-in's name as the clinic reads it (the console, /infusion, the CLI), in the
clinicians' catalogue: "4-hour check-in", "day 3 daily check-in". The unit is the one
`bot.domain.schedule.humanize_offset` picks (24 h stays hours); the patient's own wording of
the same name is `bot.messaging.questions`, in the patient's catalogue."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.schedule import offset_parts
from bot.i18n import C_, Cn_


def _offset_label(offset: timedelta) -> str:
    n, count, unit = offset_parts(offset)
    if unit == "day":
        return Cn_("{n}-day check-in", "{n}-day check-in", count).format(n=n)
    if unit == "hour":
        return Cn_("{n}-hour check-in", "{n}-hour check-in", count).format(n=n)
    if unit == "minute":
        return Cn_("{n}-minute check-in", "{n}-minute check-in", count).format(n=n)
    return Cn_("{n}-second check-in", "{n}-second check-in", count).format(n=n)


def staff_checkin_label(kind: str, offset: timedelta | None, day: int | None) -> str:
    """The check-in's name; "check-in" for one whose kind says too little."""
    if kind == "offset" and offset is not None and offset > timedelta(0):
        return _offset_label(offset)
    if kind == "daily" and day is not None:
        return C_("day {day} daily check-in").format(day=day)
    if kind == "adhoc":
        return C_("check-in started by the patient")
    return C_("check-in")
