"""The settings in people's words: a field's label, a validation problem as a sentence with
the field's unit, a stored value (ISO-8601 durations, times, ladders) as text, and which form
field a setting's path belongs to. Pure functions, one place for every wording of the page."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.console.forms.caring import caring_field

LEVELS = ("high", "moderate", "low")
_ISO_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_CLOCK = re.compile(r"^(\d\d:\d\d)(?::00(?:\.0+)?)?$")
_SIZES = (("day", 86400), ("hour", 3600), ("minute", 60))

LABELS: dict[str, str] = {
    "name": "Name",
    "timezone": "Time zone",
    "contact_phone": "Contact phone",
    "phone_country_code": "Country calling code of patients' phone numbers",
    "default_protocol": "Default protocol",
    "invite_valid_for": "Invites valid for",
    "alerts_include_name": "Pages carry the patient's name",
    "language": "Default language for patients",
    "new_protocol": "Name of a new protocol",
    "quiet.enabled": "Quiet hours",
    "quiet.start": "Quiet from",
    "quiet.end": "Quiet until",
    "checkins.reminder_after": "One reminder after",
    "checkins.missed_after": "Closed as missed after",
    "thresholds.mood_floor": "Flag a mood at or below",
    "thresholds.mood_drop": "Flag a drop below baseline of",
    "thresholds.mood_drop_checkins": "Consecutive check-ins with a drop",
    "thresholds.mood_flag_level": "Level of a mood flag",
    "escalation.human_contact_within": "A human reaches a high-risk patient within",
    "business.start": "Business day starts at",
    "business.days": "Business days",
    "non_response.missed_24h": "Level when a check-in is missed",
    "non_response.missed_after_risk": "Level when a check-in is missed after a risk",
    "non_response.consecutive_missed_level": "Level of consecutive misses",
    "non_response.unreachable": "Level when a patient is unreachable",
    "non_response.opted_out": "Level when a patient opts out",
    "non_response.risk_lookback": "A miss counts as after-risk within",
    "non_response.consecutive_missed": "Consecutive misses that alert",
    "crisis.emergency_number": "Emergency number",
    "crisis.card": "The crisis card",
    "crisis.terms": "Crisis words",
    "paging.events_url": "Events API URL",
    "paging.routing_key": "Routing key",
    "paging.webhook_url": "The clinic's webhook URL",
    "paging.digest_time": "Daily e-mail digest of open cases at",
    "oncall.bot_shift_hours": "/oncall in Telegram lasts",
    "oncall.rotation": "The weekly on-call rotation",
    "caring.enabled": "Send caring contacts",
    "caring.schedule": "Caring contacts' schedule",
    "caring.custom_days": "Custom days after the start",
    "caring.texts": "Caring messages",
    "caring.signed_by": "Caring messages signed by",
    "caring.crisis_line": "The caring footer's crisis line",
    "caring.staffed_hours": "The caring footer's staffed hours",
    "caring.window_start": "Caring contacts sent from",
    "caring.window_end": "Caring contacts sent until",
    "caring.series_end_days": "An infusion series ends after",
    "managed_by": "Where the settings are managed",
}
_PROTOCOL_LABELS = {
    "offsets": "Check-ins after the infusion",
    "red_flags_at": "The check-in that asks the red flags",
    "daily_time": "Daily check-in at",
    "daily_days": "Daily check-ins for",
}
_UNITS = {  # the unit of a number field, singular
    "daily_days": "day",
    "thresholds.mood_drop": "point",
    "thresholds.mood_drop_checkins": "check-in",
    "non_response.consecutive_missed": "missed check-in",
    "oncall.bot_shift_hours": "hour",
    "caring.series_end_days": "day",
    "caring.custom_days": "day",
}
_ITEMS = {  # what a list holds, by its last name in the settings, for "give at least one …"
    "terms": "crisis word",
    "notify": "person to notify",
    "channels": "channel",
    "days": "day",
    "custom_days": "day",
    "texts": "message",
    "offsets": "check-in time",
    **{level: "rung" for level in LEVELS},
}


def label(field: str) -> str:
    """A form field's name as the page says it."""
    parts = field.split(".")
    if parts[0] == "protocol" and len(parts) == 3:
        return f"{_PROTOCOL_LABELS.get(parts[2], parts[2])} ({parts[1]} protocol)"
    if parts[0] == "ladder" and len(parts) == 4 and parts[2].isdigit():
        return f"{parts[1].capitalize()} ladder, rung {int(parts[2]) + 1}"
    if field.startswith("paging.routing_keys."):
        return f"Routing key for {parts[2]} cases"
    return LABELS.get(field, field.replace("_", " ").replace(".", ": ").capitalize())


def change_label(path: str) -> str:
    """A stored setting's dotted path (`protocols.standard.daily_days`) in words."""
    parts = path.split(".")
    if parts[0] == "protocols" and len(parts) == 2:
        return f"Protocol “{parts[1]}”"
    if path == "quiet_hours":
        return "Quiet hours"
    if parts[0] == "escalation" and len(parts) == 2 and parts[1] in LEVELS:
        return f"Escalation ladder for {parts[1]} cases"
    if parts[0] == "outreach":
        return "Outreach: " + " ".join(parts[1:]).replace("_", " ")
    if path.startswith("paging.routing_keys.") or path in LABELS:
        return label(path)
    return label(field_of(tuple(parts)))


def unit_of(field: str) -> str:
    return _UNITS.get(field.split(".")[-1] if field.startswith("protocol.") else field, "")


def counted(amount: float, unit: str) -> str:
    """`1 day`, `2 days`, `3` (no unit)."""
    shown = f"{amount:g}"
    if not unit:
        return shown
    return f"{shown} {unit}" if amount == 1 else f"{shown} {unit}s"


def duration_words(delta: timedelta) -> str:
    """`4 hours`, `24 hours`, `2 days 6 hours`, `30 minutes`, `0 seconds`: under two days in
    hours, as the check-ins are named ("24-hour check-in")."""
    seconds = delta.total_seconds()
    if seconds < 0:
        return "minus " + duration_words(-delta)
    parts = []
    for unit, size in _SIZES:
        if seconds >= size and not (unit == "day" and seconds < 2 * size):
            amount, seconds = divmod(seconds, size)
            parts.append(counted(amount, unit))
    if seconds or not parts:
        parts.append(counted(round(seconds, 3), "second"))
    return " ".join(parts)


def value_words(value: Any, *, unit: str = "") -> str:
    """A stored value (as JSON holds it) as text: durations in words, times as hh:mm, lists
    comma-separated, a ladder's rung as `after …: whom by which channels`."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, timedelta):
        return duration_words(value)
    if isinstance(value, int | float):
        return counted(value, unit)
    if isinstance(value, str):
        return _text_words(value)
    if isinstance(value, list):
        if not value:
            return "none"
        joint = "; " if any(isinstance(item, dict) for item in value) else ", "
        return joint.join(value_words(item, unit=unit) for item in value)
    if isinstance(value, Mapping):
        if {"after", "notify"} <= set(value):
            after, notify = value_words(value["after"]), value_words(value["notify"])
            channels = value_words(value.get("channels") or ["telegram"])
            return f"after {after}: {notify} by {channels}"
        return "; ".join(f"{str(k).replace('_', ' ')} {value_words(v)}" for k, v in value.items())
    return str(value)


def _text_words(text: str) -> str:
    iso = _ISO_DURATION.match(text)
    if iso and text not in {"P", "PT"}:
        days, hours, minutes, seconds = (float(part or 0) for part in iso.groups())
        return duration_words(timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds))
    clock = _CLOCK.match(text)
    if clock:
        return clock.group(1)
    return "next business day" if text == "next_business_day" else text


def problem_text(problem: Mapping[str, Any], field: str) -> str:
    """A pydantic validation error (its `type` and `ctx`) as a plain sentence, in the field's
    unit: "at most 90 days", "give at least one crisis word"."""
    kind = str(problem.get("type", ""))
    ctx: Mapping[str, Any] = problem.get("ctx") or {}
    loc = [str(part) for part in problem.get("loc", ()) if not str(part).isdigit()]
    unit = unit_of(field)

    def bound(key: str) -> str:
        limit = ctx.get(key)
        return value_words(limit, unit=unit) if limit is not None else ""

    items = _ITEMS.get(loc[-1] if loc else "", "item")
    least = int(ctx.get("min_length", 1) or 1)
    sentences = {
        "less_than_equal": f"at most {bound('le')}",
        "less_than": f"less than {bound('lt')}",
        "greater_than_equal": f"at least {bound('ge')}",
        "greater_than": f"more than {bound('gt')}",
        "too_short": f"give at least {'one' if least == 1 else least} {items}"
        + ("" if least == 1 else "s"),
        "too_long": f"give at most {ctx.get('max_length')} {items}s",
        "string_too_short": "this cannot be empty"
        if ctx.get("min_length", 1) == 1
        else f"use at least {ctx.get('min_length')} characters",
        "string_too_long": f"use at most {ctx.get('max_length')} characters",
        "missing": "this is required",
        "string_pattern_mismatch": "use lowercase letters, digits, - and _",
        "int_parsing": "enter a whole number",
        "int_type": "enter a whole number",
        "time_parsing": "enter a time such as 22:00",
        "time_type": "enter a time such as 22:00",
        "enum": f"choose one of: {ctx.get('expected', '')}".rstrip(": "),
        "literal_error": f"choose one of: {ctx.get('expected', '')}".rstrip(": "),
    }
    if kind in sentences:
        return sentences[kind]
    return str(problem.get("msg", "")).removeprefix("Value error, ")


@dataclass(frozen=True)
class ChangeInWords:
    label: str
    before: str
    after: str


def change_in_words(path: str, before: Any, after: Any) -> ChangeInWords:
    """One changed setting: its label, and its values before and after in words."""
    parts = path.split(".")
    unit = unit_of(f"protocol.x.{parts[-1]}" if parts[0] == "protocols" else field_of(parts))
    return ChangeInWords(
        change_label(path), value_words(before, unit=unit), value_words(after, unit=unit)
    )


def field_of(loc: tuple[int | str, ...] | list[str]) -> str:
    """The form field a validation error (or a setting's path) belongs beside."""
    parts = [str(p) for p in loc]
    if not parts:
        return "default_protocol"  # the only whole-clinic rule
    head = parts[0]
    if head == "protocols" and len(parts) >= 3:
        return f"protocol.{parts[1]}.{parts[2]}"
    if head == "protocols" and len(parts) == 2:
        return f"protocol.{parts[1]}.offsets"
    if head == "quiet_hours":
        return (
            f"quiet.{parts[1]}"
            if len(parts) > 1 and parts[1] in {"start", "end"}
            else "quiet.start"
        )
    if head == "checkins":
        return f"checkins.{parts[1]}" if len(parts) > 1 else "checkins.missed_after"
    if head == "escalation" and len(parts) > 1:
        if parts[1] in LEVELS:
            index = parts[2] if len(parts) > 2 and parts[2].isdigit() else "0"
            return f"ladder.{parts[1]}.{index}.after"
        if parts[1] == "business_hours":
            return "business.days" if "days" in parts else "business.start"
        return f"escalation.{parts[1]}"
    if head == "paging" and len(parts) > 1:
        return "paging.routing_keys.high" if parts[1] == "routing_keys" else f"paging.{parts[1]}"
    if head == "caring":
        return caring_field(parts)
    if head in {"thresholds", "non_response", "crisis", "oncall"} and len(parts) > 1:
        return f"{head}.{parts[1]}"
    return head


def replanned_sentence(patients: int, *, saved: bool) -> str:
    """How many patients' unsent check-ins a save re-plans (`services/clinic/settings_replan`),
    the same words in the preview and after the save."""
    who = f"{patients} patient{'' if patients == 1 else 's'} with an active infusion"
    return f"{who} {'had' if saved else 'would have'} their unsent check-ins re-planned."
