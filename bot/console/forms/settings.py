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
from bot.console.forms.caring import caring_values, read_caring
from bot.console.forms.retention import read_retention, retention_values
from bot.console.forms.settings_words import LEVELS, field_of, problem_text
from bot.domain.channels import ChannelKind
from bot.domain.levels import Level
from bot.i18n import C_
from bot.services.clinic.masking import unmasked

TARGETS = ("queue", "primary", "backup", "everyone")
CHANNELS = tuple(kind.value for kind in ChannelKind)  # a new channel is offered as it comes
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
MAX_FIELDS = 180


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
        raise ValueError(C_("enter a duration such as 4h, 30m or 1d"))
    if raw.startswith("p"):
        from pydantic import TypeAdapter

        try:
            return TypeAdapter(timedelta).validate_python(raw.upper())
        except ValidationError:
            raise ValueError(
                C_("{text} is not a duration such as 4h or PT4H").format(text=repr(text))
            ) from None
    compact = raw.replace(" ", "")
    parts = _PART.findall(compact)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != compact:
        raise ValueError(
            C_("{text} is not a duration such as 4h, 30m, 1h 30m or 1d").format(text=repr(text))
        )
    return timedelta(seconds=sum(float(n) * _UNIT[u] for n, u in parts))


def form_values(clinic: ClinicConfig) -> dict[str, Any]:
    """The form's fields for a clinic's settings (what the page shows)."""
    values: dict[str, Any] = {
        "name": clinic.name,
        "timezone": clinic.timezone,
        "contact_phone": clinic.contact_phone,
        "default_protocol": clinic.default_protocol,
        "alerts_include_name": clinic.alerts_include_name,
        "language": clinic.language,
        "phone_country_code": clinic.phone_country_code or "",
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
    values.update(caring_values(clinic.caring))
    values.update(retention_values(clinic.retention))
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
    clinic file; every problem keyed by the field it concerns. A routing key sent back masked
    as it was shown keeps the stored key (`services/clinic/masking.unmasked`)."""
    shown = _shown(form, current)
    parsed = Parsed(data=current.model_dump(mode="python"))
    sent = unmasked(shown, stored=form_values(current), errors=parsed.errors)
    read = _Reader(form, sent, parsed.errors)
    data = parsed.data
    _read_basics(read, data)
    data["protocols"] = _read_protocols(read, current, shown["new_protocol"])
    data["escalation"] = _read_escalation(read)
    _read_the_rest(read, data, current)
    data["caring"] = read_caring(read.text, read.shown, parsed.errors, read.number)
    data["retention"] = read_retention(read.text, parsed.errors)
    if not parsed.errors:
        try:
            parsed.clinic = ClinicConfig.model_validate(data)
        except ValidationError as exc:
            for problem in exc.errors():
                key = field_of(problem["loc"])
                parsed.errors.setdefault(key, problem_text(problem, key))
    return shown, parsed


def _shown(form: FormData, current: ClinicConfig) -> dict[str, Any]:
    """The form's values over the current settings' fields (a checkbox absent is unticked)."""
    shown = form_values(current)
    for key in list(shown):
        if isinstance(shown[key], bool):
            shown[key] = key in form
        elif isinstance(shown[key], list):
            shown[key] = form.getlist(key)
        elif key in form:
            shown[key] = str(form[key])
    shown["new_protocol"] = str(form.get("new_protocol", "")).strip()
    return shown


@dataclass
class _Reader:
    """Reads the shown values as text, durations and numbers; a problem goes to `errors`."""

    form: FormData
    shown: dict[str, Any]
    errors: dict[str, str]

    def text(self, key: str) -> str:
        return str(self.shown.get(key, "") or "").strip()

    def duration(self, key: str, *, blank_none: bool = False) -> timedelta | None:
        raw = self.text(key)
        if blank_none and not raw:
            return None
        try:
            return parse_duration(raw)
        except (ValueError, OverflowError) as exc:
            self.errors[key] = _duration_problem(exc)
            return None

    def number(self, key: str) -> int | None:
        raw = self.text(key)
        if not re.fullmatch(r"-?\d{1,4}", raw):
            self.errors[key] = C_("enter a whole number")
            return None
        return int(raw)


def _duration_problem(exc: ValueError | OverflowError) -> str:
    return str(exc) if isinstance(exc, ValueError) else C_("that duration is too long")


def _read_basics(read: _Reader, data: dict[str, Any]) -> None:
    """The clinic's name, zone, contact, invites, quiet hours, check-ins and thresholds."""
    data["name"] = read.text("name")
    data["timezone"] = read.text("timezone")
    data["contact_phone"] = read.text("contact_phone")
    data["default_protocol"] = read.text("default_protocol")
    data["alerts_include_name"] = bool(read.shown["alerts_include_name"])
    data["language"] = read.text("language")
    data["phone_country_code"] = read.text("phone_country_code") or None
    data["invite_valid_for"] = read.duration("invite_valid_for")
    data["quiet_hours"] = (
        {"start": read.text("quiet.start"), "end": read.text("quiet.end")}
        if read.shown["quiet.enabled"]
        else None
    )
    data["checkins"] = {
        "reminder_after": read.duration("checkins.reminder_after"),
        "missed_after": read.duration("checkins.missed_after"),
    }
    data["thresholds"] = {
        "mood_floor": read.number("thresholds.mood_floor"),
        "mood_drop": read.number("thresholds.mood_drop"),
        "mood_drop_checkins": read.number("thresholds.mood_drop_checkins"),
        "mood_flag_level": read.text("thresholds.mood_flag_level"),
    }


def _read_protocols(read: _Reader, current: ClinicConfig, new_protocol: str) -> dict[str, Any]:
    """Each protocol's fields, and the new (empty) protocol if one is named."""
    protocols: dict[str, Any] = {}
    for name in current.protocols:
        offsets = []
        key = f"protocol.{name}.offsets"
        for part in filter(None, (p.strip() for p in read.text(key).split(","))):
            try:
                offsets.append(parse_duration(part))
            except (ValueError, OverflowError) as exc:
                read.errors[key] = _duration_problem(exc)
        protocols[name] = {
            "offsets": offsets,
            "red_flags_at": read.duration(f"protocol.{name}.red_flags_at", blank_none=True),
            "daily_time": read.text(f"protocol.{name}.daily_time"),
            "daily_days": read.number(f"protocol.{name}.daily_days"),
        }
    if new_protocol:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", new_protocol):
            read.errors["new_protocol"] = C_("use lowercase letters, digits, - and _ (up to 32)")
        elif new_protocol in protocols:
            read.errors["new_protocol"] = C_("there is already a protocol {name}").format(
                name=repr(new_protocol)
            )
        else:
            protocols[new_protocol] = {}
    return protocols


def _read_escalation(read: _Reader) -> dict[str, Any]:
    """Business hours and each level's ladder; an empty row is skipped."""
    escalation: dict[str, Any] = {
        "human_contact_within": read.duration("escalation.human_contact_within"),
        "business_hours": {
            "start": read.text("business.start"),
            "days": [int(d) for d in read.shown["business.days"] if re.fullmatch(r"[1-7]", str(d))],
        },
    }
    for level in LEVELS:
        steps = []
        for index in range(rung_count(read.shown, level) + 1):
            key = f"ladder.{level}.{index}.after"
            if key not in read.form:
                continue
            raw, notify = read.text(key), read.form.getlist(f"ladder.{level}.{index}.notify")
            channels = read.form.getlist(f"ladder.{level}.{index}.channels")
            if not raw and not notify:
                continue  # an empty row
            after: Any = "next_business_day" if raw.lower() == NEXT_BUSINESS_DAY else None
            if after is None:
                after = read.duration(key)
            steps.append({"after": after, "notify": notify, "channels": channels or ["telegram"]})
        escalation[level] = steps
    return escalation


def _read_the_rest(read: _Reader, data: dict[str, Any], current: ClinicConfig) -> None:
    """Non-response, the crisis card, paging services and /oncall (the rotation is kept)."""
    text = read.text
    data["non_response"] = {
        "risk_lookback": read.duration("non_response.risk_lookback"),
        "consecutive_missed": read.number("non_response.consecutive_missed"),
        **{key: text(f"non_response.{key}") for key in NON_RESPONSE_LEVELS},
    }
    data["crisis"] = {
        "card": str(read.form.get("crisis.card", "")).replace("\r\n", "\n"),
        "emergency_number": text("crisis.emergency_number"),
        "terms": [t.strip() for t in text("crisis.terms").splitlines() if t.strip()],
        "cards": dict(current.crisis.cards),  # the clinic file keeps the other languages' cards
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
        "bot_shift_hours": read.number("oncall.bot_shift_hours"),
        "rotation": [slot.model_dump() for slot in current.oncall.rotation],
    }
