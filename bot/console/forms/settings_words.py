"""The settings in people's words: a field's label, a validation problem as a sentence with
the field's unit, a stored value (ISO-8601 durations, times, ladders) as text, and which form
field a setting's path belongs to. Pure functions, one place for every wording of the page."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.console.forms.caring import caring_field
from bot.console.forms.retention import retention_field
from bot.i18n import C_, NC_, Cn_

LEVELS = ("high", "moderate", "low")
_ISO_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_CLOCK = re.compile(r"^(\d\d:\d\d)(?::00(?:\.0+)?)?$")
_SIZES = (("day", 86400), ("hour", 3600), ("minute", 60))

LABELS: dict[str, str] = {
    "name": NC_("Name"),
    "timezone": NC_("Time zone"),
    "contact_phone": NC_("Contact phone"),
    "phone_country_code": NC_("Country calling code of patients' phone numbers"),
    "default_protocol": NC_("Default protocol"),
    "invite_valid_for": NC_("Invites valid for"),
    "alerts_include_name": NC_("Pages carry the patient's name"),
    "language": NC_("Default language for patients"),
    "new_protocol": NC_("Name of a new protocol"),
    "quiet.enabled": NC_("Quiet hours"),
    "quiet.start": NC_("Quiet from"),
    "quiet.end": NC_("Quiet until"),
    "checkins.reminder_after": NC_("One reminder after"),
    "checkins.missed_after": NC_("Closed as missed after"),
    "thresholds.mood_floor": NC_("Flag a mood at or below"),
    "thresholds.mood_drop": NC_("Flag a drop below baseline of"),
    "thresholds.mood_drop_checkins": NC_("Consecutive check-ins with a drop"),
    "thresholds.mood_flag_level": NC_("Level of a mood flag"),
    "escalation.human_contact_within": NC_("A human reaches a high-risk patient within"),
    "business.start": NC_("Business day starts at"),
    "business.days": NC_("Business days"),
    "non_response.missed_24h": NC_("Level when a check-in is missed"),
    "non_response.missed_after_risk": NC_("Level when a check-in is missed after a risk"),
    "non_response.consecutive_missed_level": NC_("Level of consecutive misses"),
    "non_response.unreachable": NC_("Level when a patient is unreachable"),
    "non_response.opted_out": NC_("Level when a patient opts out"),
    "non_response.risk_lookback": NC_("A miss counts as after-risk within"),
    "non_response.consecutive_missed": NC_("Consecutive misses that alert"),
    "crisis.emergency_number": NC_("Emergency number"),
    "crisis.card": NC_("The crisis card"),
    "crisis.terms": NC_("Crisis words"),
    "paging.events_url": NC_("Events API URL"),
    "paging.routing_key": NC_("Routing key"),
    "paging.webhook_url": NC_("The clinic's webhook URL"),
    "paging.digest_time": NC_("Daily e-mail digest of open cases at"),
    "oncall.bot_shift_hours": NC_("/oncall in Telegram lasts"),
    "oncall.rotation": NC_("The weekly on-call rotation"),
    "caring.enabled": NC_("Send caring contacts"),
    "caring.schedule": NC_("Caring contacts' schedule"),
    "caring.custom_days": NC_("Custom days after the start"),
    "caring.texts": NC_("Caring messages"),
    "caring.signed_by": NC_("Caring messages signed by"),
    "caring.crisis_line": NC_("The caring footer's crisis line"),
    "caring.staffed_hours": NC_("The caring footer's staffed hours"),
    "caring.window_start": NC_("Caring contacts sent from"),
    "caring.window_end": NC_("Caring contacts sent until"),
    "caring.series_end_days": NC_("An infusion series ends after"),
    "retention.words_days": NC_("Erase free text and contacts after"),
    "retention.records_days": NC_("Delete structured records after"),
    "retention.run_at": NC_("Nightly retention run at"),
    "managed_by": NC_("Where the settings are managed"),
}
_PROTOCOL_LABELS = {
    "offsets": NC_("Check-ins after the infusion"),
    "red_flags_at": NC_("The check-in that asks the red flags"),
    "daily_time": NC_("Daily check-in at"),
    "daily_days": NC_("Daily check-ins for"),
}
_UNITS = {  # the unit of a number field, singular (a key of `_COUNTED`)
    "daily_days": "day",
    "thresholds.mood_drop": "point",
    "thresholds.mood_drop_checkins": "check-in",
    "non_response.consecutive_missed": "missed check-in",
    "oncall.bot_shift_hours": "hour",
    "caring.series_end_days": "day",
    "caring.custom_days": "day",
    "retention.words_days": "day",
    "retention.records_days": "day",
}
_COUNTED: dict[str, Callable[[int], str]] = {  # an amount of a unit, said at use time
    "day": lambda n: Cn_("{n} day", "{n} days", n),
    "hour": lambda n: Cn_("{n} hour", "{n} hours", n),
    "minute": lambda n: Cn_("{n} minute", "{n} minutes", n),
    "second": lambda n: Cn_("{n} second", "{n} seconds", n),
    "point": lambda n: Cn_("{n} point", "{n} points", n),
    "check-in": lambda n: Cn_("{n} check-in", "{n} check-ins", n),
    "missed check-in": lambda n: Cn_("{n} missed check-in", "{n} missed check-ins", n),
}
_LEVEL_WORDS = {"high": NC_("high"), "moderate": NC_("moderate"), "low": NC_("low")}
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
_AT_LEAST: dict[str, Callable[[int], str]] = {  # "give at least one …", said at use time
    "crisis word": lambda n: Cn_(
        "give at least one crisis word", "give at least {n} crisis words", n
    ),
    "person to notify": lambda n: Cn_(
        "give at least one person to notify", "give at least {n} people to notify", n
    ),
    "channel": lambda n: Cn_("give at least one channel", "give at least {n} channels", n),
    "day": lambda n: Cn_("give at least one day", "give at least {n} days", n),
    "message": lambda n: Cn_("give at least one message", "give at least {n} messages", n),
    "check-in time": lambda n: Cn_(
        "give at least one check-in time", "give at least {n} check-in times", n
    ),
    "rung": lambda n: Cn_("give at least one rung", "give at least {n} rungs", n),
    "item": lambda n: Cn_("give at least one item", "give at least {n} items", n),
}
_AT_MOST: dict[str, Callable[[int], str]] = {
    "crisis word": lambda n: Cn_(
        "give at most {n} crisis word", "give at most {n} crisis words", n
    ),
    "person to notify": lambda n: Cn_(
        "give at most {n} person to notify", "give at most {n} people to notify", n
    ),
    "channel": lambda n: Cn_("give at most {n} channel", "give at most {n} channels", n),
    "day": lambda n: Cn_("give at most {n} day", "give at most {n} days", n),
    "message": lambda n: Cn_("give at most {n} message", "give at most {n} messages", n),
    "check-in time": lambda n: Cn_(
        "give at most {n} check-in time", "give at most {n} check-in times", n
    ),
    "rung": lambda n: Cn_("give at most {n} rung", "give at most {n} rungs", n),
    "item": lambda n: Cn_("give at most {n} item", "give at most {n} items", n),
}


def level_word(level: str) -> str:
    """A case level (`high`) as the page says it."""
    return C_(_LEVEL_WORDS[level]) if level in _LEVEL_WORDS else level


def label(field: str) -> str:
    """A form field's name as the page says it."""
    parts = field.split(".")
    if parts[0] == "protocol" and len(parts) == 3:
        said = C_(_PROTOCOL_LABELS[parts[2]]) if parts[2] in _PROTOCOL_LABELS else parts[2]
        return C_("{label} ({protocol} protocol)").format(label=said, protocol=parts[1])
    if parts[0] == "ladder" and len(parts) == 4 and parts[2].isdigit():
        level = level_word(parts[1]).capitalize()
        return C_("{level} ladder, rung {n}").format(level=level, n=int(parts[2]) + 1)
    if field.startswith("paging.routing_keys."):
        return C_("Routing key for {level} cases").format(level=level_word(parts[2]))
    if field in LABELS:
        return C_(LABELS[field])
    return field.replace("_", " ").replace(".", ": ").capitalize()


def change_label(path: str) -> str:
    """A stored setting's dotted path (`protocols.standard.daily_days`) in words."""
    parts = path.split(".")
    if parts[0] == "protocols" and len(parts) == 2:
        return C_("Protocol “{name}”").format(name=parts[1])
    if path == "quiet_hours":
        return C_("Quiet hours")
    if parts[0] == "escalation" and len(parts) == 2 and parts[1] in LEVELS:
        return C_("Escalation ladder for {level} cases").format(level=level_word(parts[1]))
    if parts[0] == "outreach":
        return C_("Outreach: {setting}").format(setting=" ".join(parts[1:]).replace("_", " "))
    if path.startswith("paging.routing_keys.") or path in LABELS:
        return label(path)
    return label(field_of(tuple(parts)))


def unit_of(field: str) -> str:
    return _UNITS.get(field.split(".")[-1] if field.startswith("protocol.") else field, "")


def counted(amount: float, unit: str) -> str:
    """`1 day`, `2 days`, `3` (no unit)."""
    shown = f"{amount:g}"
    say = _COUNTED.get(unit)
    if say is None:
        return shown if not unit else f"{shown} {unit}"
    whole = int(amount) if amount == int(amount) else 2  # a fraction takes the plural
    return say(whole).format(n=shown)


def duration_words(delta: timedelta) -> str:
    """`4 hours`, `24 hours`, `2 days 6 hours`, `30 minutes`, `0 seconds`: under two days in
    hours, as the check-ins are named ("24-hour check-in")."""
    seconds = delta.total_seconds()
    if seconds < 0:
        return C_("minus {duration}").format(duration=duration_words(-delta))
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
        return C_("none")
    if isinstance(value, bool):
        return C_("yes") if value else C_("no")
    if isinstance(value, timedelta):
        return duration_words(value)
    if isinstance(value, int | float):
        return counted(value, unit)
    if isinstance(value, str):
        return _text_words(value)
    if isinstance(value, list):
        if not value:
            return C_("none")
        joint = "; " if any(isinstance(item, dict) for item in value) else ", "
        return joint.join(value_words(item, unit=unit) for item in value)
    if isinstance(value, Mapping):
        if {"after", "notify"} <= set(value):
            after, notify = value_words(value["after"]), value_words(value["notify"])
            channels = value_words(value.get("channels") or ["telegram"])
            return C_("after {after}: {notify} by {channels}").format(
                after=after, notify=notify, channels=channels
            )
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
    return C_("next business day") if text == "next_business_day" else text


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
    most = int(ctx.get("max_length", 0) or 0)
    expected = ctx.get("expected", "")
    choose = (
        C_("choose one of: {choices}").format(choices=expected) if expected else C_("choose one of")
    )
    sentences = {
        "less_than_equal": C_("at most {limit}").format(limit=bound("le")),
        "less_than": C_("less than {limit}").format(limit=bound("lt")),
        "greater_than_equal": C_("at least {limit}").format(limit=bound("ge")),
        "greater_than": C_("more than {limit}").format(limit=bound("gt")),
        "too_short": _AT_LEAST[items](least).format(n=least),
        "too_long": _AT_MOST[items](most).format(n=most),
        "string_too_short": C_("this cannot be empty")
        if ctx.get("min_length", 1) == 1
        else Cn_("use at least {n} character", "use at least {n} characters", least).format(
            n=least
        ),
        "string_too_long": Cn_(
            "use at most {n} character", "use at most {n} characters", most
        ).format(n=most),
        "missing": C_("this is required"),
        "string_pattern_mismatch": C_("use lowercase letters, digits, - and _"),
        "int_parsing": C_("enter a whole number"),
        "int_type": C_("enter a whole number"),
        "time_parsing": C_("enter a time such as 22:00"),
        "time_type": C_("enter a time such as 22:00"),
        "enum": choose,
        "literal_error": choose,
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
    if head == "retention":
        return retention_field(parts)
    if head in {"thresholds", "non_response", "crisis", "oncall"} and len(parts) > 1:
        return f"{head}.{parts[1]}"
    return head


def replanned_sentence(patients: int, *, saved: bool) -> str:
    """How many patients' unsent check-ins a save re-plans (`services/clinic/settings_replan`),
    the same words in the preview and after the save."""
    if saved:
        said = Cn_(
            "{n} patient with an active infusion had their unsent check-ins re-planned.",
            "{n} patients with an active infusion had their unsent check-ins re-planned.",
            patients,
        )
    else:
        said = Cn_(
            "{n} patient with an active infusion would have their unsent check-ins re-planned.",
            "{n} patients with an active infusion would have their unsent check-ins re-planned.",
            patients,
        )
    return said.format(n=patients)
