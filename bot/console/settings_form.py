"""The settings form: a clinic's settings to form fields and back, and validation messages
placed beside the field they concern. Pure functions; the validation itself is the clinic
file's (`ClinicConfig`), so the console cannot accept what the file would refuse."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from bot.clinic_config import ClinicConfig
from bot.domain.levels import Level

LEVELS = ("high", "moderate", "low")
TARGETS = ("queue", "primary", "backup", "everyone")
CHANNELS = ("telegram", "email", "pager", "webhook")
CHOICE_LEVELS = tuple(level.value for level in Level if level is not Level.NONE)
NON_RESPONSE_LEVELS = (
    "missed_24h",
    "missed_after_risk",
    "consecutive_missed_level",
    "unreachable",
    "opted_out",
)
EXTRA_RUNGS = 1  # empty rows offered under each ladder
NEXT_BUSINESS_DAY = "next business day"
_UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")
MAX_FIELDS = 160


@dataclass
class Parsed:
    """What the form said: the settings as the file would hold them, or the problems."""

    data: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    clinic: ClinicConfig | None = None


def show_duration(delta: timedelta | None) -> str:
    """`4h`, `1h 30m`, `30s`, `2d`: what the form shows and accepts back."""
    if delta is None:
        return ""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in _UNIT.items():
        if seconds >= size:
            amount, seconds = divmod(seconds, size)
            parts.append(f"{amount}{unit}")
    return " ".join(parts)


def parse_duration(text: str) -> timedelta:
    """`4h`, `1h 30m`, `90s`, `2d` or ISO-8601 (`PT4H`); ValueError with a plain message."""
    raw = text.strip().lower()
    if not raw:
        raise ValueError("enter a duration such as 4h, 30m or 1d")
    if raw.startswith("p"):
        from pydantic import TypeAdapter

        try:
            return TypeAdapter(timedelta).validate_python(raw.upper())
        except ValidationError:
            raise ValueError(f"{text!r} is not a duration such as 4h or PT4H") from None
    compact = raw.replace(" ", "")
    parts = _PART.findall(compact)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != compact:
        raise ValueError(f"{text!r} is not a duration such as 4h, 30m, 1h 30m or 1d")
    return timedelta(seconds=sum(float(n) * _UNIT[u] for n, u in parts))


def form_values(clinic: ClinicConfig) -> dict[str, Any]:
    """The form's fields for a clinic's settings (what the page shows)."""
    values: dict[str, Any] = {
        "name": clinic.name,
        "timezone": clinic.timezone,
        "contact_phone": clinic.contact_phone,
        "default_protocol": clinic.default_protocol,
        "alerts_include_name": clinic.alerts_include_name,
        "invite_valid_for": show_duration(clinic.invite_valid_for),
        "quiet.enabled": clinic.quiet_hours is not None,
        "quiet.start": (clinic.quiet_hours.start if clinic.quiet_hours else None),
        "quiet.end": (clinic.quiet_hours.end if clinic.quiet_hours else None),
        "checkins.reminder_after": show_duration(clinic.checkins.reminder_after),
        "checkins.missed_after": show_duration(clinic.checkins.missed_after),
        "thresholds.mood_floor": clinic.thresholds.mood_floor,
        "thresholds.mood_drop": clinic.thresholds.mood_drop,
        "thresholds.mood_drop_checkins": clinic.thresholds.mood_drop_checkins,
        "thresholds.mood_flag_level": clinic.thresholds.mood_flag_level.value,
        "escalation.human_contact_within": show_duration(clinic.escalation.human_contact_within),
        "business.start": clinic.escalation.business_hours.start,
        "business.days": list(clinic.escalation.business_hours.days),
        "non_response.risk_lookback": show_duration(clinic.non_response.risk_lookback),
        "non_response.consecutive_missed": clinic.non_response.consecutive_missed,
        "crisis.card": clinic.crisis.card,
        "crisis.emergency_number": clinic.crisis.emergency_number,
        "crisis.terms": "\n".join(clinic.crisis.terms),
        "oncall.bot_shift_hours": clinic.oncall.bot_shift_hours,
        "paging.events_url": clinic.paging.events_url,
        "paging.routing_key": clinic.paging.routing_key or "",
        "paging.webhook_url": clinic.paging.webhook_url or "",
        "paging.digest_time": clinic.paging.digest_time or "",
        "new_protocol": "",
    }
    for key in NON_RESPONSE_LEVELS:
        values[f"non_response.{key}"] = getattr(clinic.non_response, key).value
    for level in LEVELS:
        values[f"paging.routing_keys.{level}"] = clinic.paging.routing_keys.get(Level(level), "")
    for name, protocol in clinic.protocols.items():
        values[f"protocol.{name}.offsets"] = ", ".join(show_duration(o) for o in protocol.offsets)
        values[f"protocol.{name}.red_flags_at"] = show_duration(protocol.red_flags_at)
        values[f"protocol.{name}.daily_time"] = protocol.daily_time
        values[f"protocol.{name}.daily_days"] = protocol.daily_days
    for level in LEVELS:
        steps = getattr(clinic.escalation, level)
        for index in range(len(steps) + EXTRA_RUNGS):
            step = steps[index] if index < len(steps) else None
            values[f"ladder.{level}.{index}.after"] = _rung_after(step.after if step else None)
            values[f"ladder.{level}.{index}.notify"] = list(step.notify) if step else []
            values[f"ladder.{level}.{index}.channels"] = list(step.channels) if step else []
    return values


def _rung_after(after: timedelta | str | None) -> str:
    if after is None:
        return ""
    if isinstance(after, str):
        return NEXT_BUSINESS_DAY
    return show_duration(after)


def rung_count(values: dict[str, Any], level: str) -> int:
    return sum(1 for key in values if key.startswith(f"ladder.{level}.") and key.endswith(".after"))


def protocol_names(values: dict[str, Any]) -> list[str]:
    return [key.split(".")[1] for key in values if key.startswith("protocol.") and "offsets" in key]


def read_form(form: FormData, current: ClinicConfig) -> tuple[dict[str, Any], Parsed]:
    """The submitted values (to show back) and the settings they make, validated like the
    clinic file; every problem keyed by the field it concerns."""
    shown = form_values(current)
    for key in list(shown):
        if isinstance(shown[key], bool):
            shown[key] = key in form
        elif isinstance(shown[key], list):
            shown[key] = form.getlist(key)
        elif key in form:
            shown[key] = str(form[key])
    new_protocol = str(form.get("new_protocol", "")).strip()
    shown["new_protocol"] = new_protocol
    parsed = Parsed(data=current.model_dump(mode="python"))
    data, errors = parsed.data, parsed.errors

    def text(key: str) -> str:
        return str(shown.get(key, "") or "").strip()

    def duration(key: str, *, blank_none: bool = False) -> timedelta | None:
        raw = text(key)
        if blank_none and not raw:
            return None
        try:
            return parse_duration(raw)
        except (ValueError, OverflowError) as exc:
            errors[key] = str(exc) if isinstance(exc, ValueError) else "that duration is too long"
            return None

    def number(key: str) -> int | None:
        raw = text(key)
        if not re.fullmatch(r"-?\d{1,4}", raw):
            errors[key] = "enter a whole number"
            return None
        return int(raw)

    data["name"] = text("name")
    data["timezone"] = text("timezone")
    data["contact_phone"] = text("contact_phone")
    data["default_protocol"] = text("default_protocol")
    data["alerts_include_name"] = bool(shown["alerts_include_name"])
    data["invite_valid_for"] = duration("invite_valid_for")
    data["quiet_hours"] = (
        {"start": text("quiet.start"), "end": text("quiet.end")} if shown["quiet.enabled"] else None
    )
    data["checkins"] = {
        "reminder_after": duration("checkins.reminder_after"),
        "missed_after": duration("checkins.missed_after"),
    }
    data["thresholds"] = {
        "mood_floor": number("thresholds.mood_floor"),
        "mood_drop": number("thresholds.mood_drop"),
        "mood_drop_checkins": number("thresholds.mood_drop_checkins"),
        "mood_flag_level": text("thresholds.mood_flag_level"),
    }
    protocols: dict[str, Any] = {}
    for name in current.protocols:
        offsets = []
        for part in filter(None, (p.strip() for p in text(f"protocol.{name}.offsets").split(","))):
            try:
                offsets.append(parse_duration(part))
            except (ValueError, OverflowError) as exc:
                errors[f"protocol.{name}.offsets"] = (
                    str(exc) if isinstance(exc, ValueError) else "that duration is too long"
                )
        protocols[name] = {
            "offsets": offsets,
            "red_flags_at": duration(f"protocol.{name}.red_flags_at", blank_none=True),
            "daily_time": text(f"protocol.{name}.daily_time"),
            "daily_days": number(f"protocol.{name}.daily_days"),
        }
    if new_protocol:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", new_protocol):
            errors["new_protocol"] = "use lowercase letters, digits, - and _ (up to 32)"
        elif new_protocol in protocols:
            errors["new_protocol"] = f"there is already a protocol {new_protocol!r}"
        else:
            protocols[new_protocol] = {}
    data["protocols"] = protocols
    escalation: dict[str, Any] = {
        "human_contact_within": duration("escalation.human_contact_within"),
        "business_hours": {
            "start": text("business.start"),
            "days": [int(d) for d in shown["business.days"] if re.fullmatch(r"[1-7]", str(d))],
        },
    }
    for level in LEVELS:
        steps = []
        for index in range(rung_count(shown, level) + 1):
            key = f"ladder.{level}.{index}.after"
            if key not in form:
                continue
            raw, notify = text(key), form.getlist(f"ladder.{level}.{index}.notify")
            channels = form.getlist(f"ladder.{level}.{index}.channels")
            if not raw and not notify:
                continue  # an empty row
            after: Any = "next_business_day" if raw.lower() == NEXT_BUSINESS_DAY else None
            if after is None:
                after = duration(key)
            steps.append({"after": after, "notify": notify, "channels": channels or ["telegram"]})
        escalation[level] = steps
    data["escalation"] = escalation
    data["non_response"] = {
        "risk_lookback": duration("non_response.risk_lookback"),
        "consecutive_missed": number("non_response.consecutive_missed"),
        **{key: text(f"non_response.{key}") for key in NON_RESPONSE_LEVELS},
    }
    data["crisis"] = {
        "card": str(form.get("crisis.card", "")).replace("\r\n", "\n"),
        "emergency_number": text("crisis.emergency_number"),
        "terms": [t.strip() for t in text("crisis.terms").splitlines() if t.strip()],
    }
    data["paging"] = {
        "events_url": text("paging.events_url"),
        "routing_key": text("paging.routing_key") or None,
        "routing_keys": {
            level: text(f"paging.routing_keys.{level}")
            for level in LEVELS
            if text(f"paging.routing_keys.{level}")
        },
        "webhook_url": text("paging.webhook_url") or None,
        "digest_time": text("paging.digest_time") or None,
    }
    data["oncall"] = {
        "bot_shift_hours": number("oncall.bot_shift_hours"),
        "rotation": [slot.model_dump() for slot in current.oncall.rotation],
    }
    if not errors:
        try:
            parsed.clinic = ClinicConfig.model_validate(data)
        except ValidationError as exc:
            for problem in exc.errors():
                errors.setdefault(field_of(problem["loc"]), _message(problem["msg"]))
    return shown, parsed


def _message(text: str) -> str:
    return text.removeprefix("Value error, ")


def field_of(loc: tuple[int | str, ...]) -> str:
    """The form field a validation error belongs beside."""
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
    if head in {"thresholds", "non_response", "crisis", "oncall"} and len(parts) > 1:
        return f"{head}.{parts[1]}"
    return head
