"""The clinic configuration file (TOML): clinics, protocols, thresholds and escalation.

Every default here is a default of ../shared/CLINICAL.md; a clinic overrides any of them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tomllib
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.clinic_caring import CaringConfig
from bot.clinic_defaults import DEFAULT_CRISIS_CARD, DEFAULT_CRISIS_TERMS
from bot.clinic_escalation import EscalationConfig, OutreachConfig, PagingConfig
from bot.clinic_retention import RetentionConfig
from bot.domain.levels import Level
from bot.domain.phone import country_code_problem
from bot.domain.schedule import Protocol, QuietHours
from bot.domain.triage import MoodRule
from bot.i18n import normalize

log = logging.getLogger(__name__)


MAX_OFFSET = timedelta(days=30)  # a check-in offset after the infusion
MAX_WINDOW = timedelta(days=7)  # until a check-in closes as missed


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProtocolConfig(_Strict):
    """A named check-in schedule (CLINICAL.md §1: +4 h, +24 h, then daily)."""

    offsets: list[timedelta] = Field(
        default_factory=lambda: [timedelta(hours=4), timedelta(hours=24)], min_length=0
    )
    daily_time: time = time(10, 0)
    daily_days: int = Field(default=7, ge=0, le=90)
    red_flags_at: timedelta | None = Field(
        default=timedelta(hours=4), description="The offset check-in that asks the red flags."
    )

    @field_validator("red_flags_at", mode="before")
    @classmethod
    def _false_is_none(cls, value: object) -> object:
        return None if value is False else value  # TOML has no null: `red_flags_at = false`

    @field_validator("offsets")
    @classmethod
    def _positive(cls, value: list[timedelta]) -> list[timedelta]:
        if any(offset <= timedelta(0) for offset in value):
            raise ValueError("offsets must be positive durations such as PT4H or PT30S")
        if any(offset > MAX_OFFSET for offset in value):
            raise ValueError("offsets must be at most 30 days after the infusion")
        return value

    def to_domain(self, name: str) -> Protocol:
        return Protocol(
            name=name,
            offsets=tuple(self.offsets),
            daily_time=self.daily_time,
            daily_days=self.daily_days,
        )


class QuietHoursConfig(_Strict):
    """Local hours when routine prompts wait (safety messages never wait)."""

    start: time = time(22, 0)
    end: time = time(8, 0)

    def to_domain(self) -> QuietHours:
        return QuietHours(start=self.start, end=self.end)


class CheckinWindows(_Strict):
    """Non-response windows (CLINICAL.md §6)."""

    reminder_after: timedelta = timedelta(hours=1)
    missed_after: timedelta = timedelta(hours=4)

    @model_validator(mode="after")
    def _ordered(self) -> CheckinWindows:
        if not timedelta(0) < self.reminder_after < self.missed_after:
            raise ValueError("need 0 < reminder_after < missed_after")
        if self.missed_after > MAX_WINDOW:
            raise ValueError("a check-in closes as missed within 7 days at the latest")
        return self


class Thresholds(_Strict):
    """Mood flags (CLINICAL.md §3)."""

    mood_floor: int = Field(default=2, ge=0, le=10)
    mood_drop: int = Field(default=3, ge=1, le=10)
    mood_drop_checkins: int = Field(default=2, ge=1, le=10)
    mood_flag_level: Level = Field(
        default=Level.MODERATE, description="Level of a mood flag: on-call review within hours."
    )

    def mood_rule(self) -> MoodRule:
        return MoodRule(
            floor=self.mood_floor,
            drop=self.mood_drop,
            consecutive=self.mood_drop_checkins,
            level=self.mood_flag_level,
        )


class NonResponseConfig(_Strict):
    """Which silences alert the care team, and at what level (CLINICAL.md §6)."""

    missed_24h: Level = Level.MODERATE
    missed_after_risk: Level = Level.MODERATE
    risk_lookback: timedelta = Field(default=timedelta(days=7), le=timedelta(days=365))
    consecutive_missed: int = Field(default=2, ge=1)
    consecutive_missed_level: Level = Level.MODERATE
    unreachable: Level = Level.HIGH
    opted_out: Level = Level.LOW


class CrisisConfig(_Strict):
    """The crisis card and the crisis words (CLINICAL.md §5, §7)."""

    card: str = DEFAULT_CRISIS_CARD
    cards: dict[str, str] = Field(
        default_factory=dict,
        description='The card in other languages, by language tag (e.g. "es"); a language '
        "without one gets the US Spanish default while `card` is the US default, else `card`.",
    )
    emergency_number: str = Field(default="911", min_length=2, max_length=16)
    terms: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CRISIS_TERMS),
        min_length=1,
        description="At least one: an empty list would switch crisis-word scanning off.",
    )

    @field_validator("card")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the crisis card cannot be empty")
        if len(value) > 3500:
            raise ValueError("the crisis card must fit in one Telegram message (3500 characters)")
        return value

    @field_validator("cards")
    @classmethod
    def _cards(cls, value: dict[str, str]) -> dict[str, str]:
        cards: dict[str, str] = {}
        for tag, card in value.items():
            language = normalize(tag)
            if language is None:
                raise ValueError(f"{tag!r} is not a language tag such as es or pt")
            cards[language] = cls._not_empty(card)
        return cards


class RotationSlot(_Strict):
    """A weekly on-call slot in the clinic's time zone; [start, end) may cross midnight."""

    clinician: str = Field(min_length=1, description="The clinician's registered name.")
    role: Literal["primary", "backup"] = "primary"
    days: list[Annotated[int, Field(ge=1, le=7)]] = Field(
        min_length=1, description="ISO weekdays the slot starts on, Monday = 1."
    )
    start: time
    end: time


class OnCallConfig(_Strict):
    """The on-call roster: a weekly rotation; shifts added by command take precedence."""

    rotation: list[RotationSlot] = Field(default_factory=list)
    bot_shift_hours: int = Field(
        default=24, ge=1, le=168, description="How long /oncall lasts unless /offcall ends it."
    )


class ClinicConfig(_Strict):
    """One clinic."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    name: str = Field(min_length=1, max_length=120)
    timezone: str
    contact_phone: str = Field(min_length=3, max_length=40)
    default_protocol: str = "standard"
    protocols: dict[str, ProtocolConfig] = Field(
        default_factory=lambda: {"standard": ProtocolConfig()}
    )
    quiet_hours: QuietHoursConfig | None = Field(default_factory=QuietHoursConfig)
    checkins: CheckinWindows = Field(default_factory=CheckinWindows)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    non_response: NonResponseConfig = Field(default_factory=NonResponseConfig)
    crisis: CrisisConfig = Field(default_factory=CrisisConfig)
    oncall: OnCallConfig = Field(default_factory=OnCallConfig)
    paging: PagingConfig = Field(default_factory=PagingConfig)
    outreach: OutreachConfig = Field(default_factory=OutreachConfig)
    caring: CaringConfig = Field(default_factory=CaringConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    alerts_include_name: bool = False
    language: str = Field(
        default="en",
        description='The default language for patients (e.g. "es"): a patient\'s own setting '
        "wins; one without Aftercare's texts and an installed C-SSRS falls back to English.",
    )
    phone_country_code: str | None = Field(
        default=None,
        description='Dialling code for patients\' phone numbers written without one, e.g. "+44"; '
        "unset: only international numbers (+…) are accepted.",
    )
    invite_valid_for: timedelta = Field(
        default=timedelta(days=7), gt=timedelta(0), le=timedelta(days=90)
    )
    managed_by: Literal["file", "console"] = Field(
        default="file",
        description='"file": this file wins at every start and the console shows the settings '
        'read-only; "console": the file only creates the clinic, then the console edits it.',
    )

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _no_quiet_hours(cls, value: object) -> object:
        return None if value is False else value  # `quiet_hours = false`: none

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        language = normalize(value.strip())
        if language is None:
            raise ValueError(f"{value!r} is not a language tag such as en or es")
        return language

    @field_validator("phone_country_code")
    @classmethod
    def _country_code(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        problem = country_code_problem(value.strip())
        if problem:
            raise ValueError(problem)
        return value.strip()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a path
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _default_protocol_exists(self) -> ClinicConfig:
        if self.default_protocol not in self.protocols:
            raise ValueError(
                f"default_protocol {self.default_protocol!r} is not one of the protocols "
                f"({', '.join(sorted(self.protocols)) or 'none defined'})"
            )
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def protocol(self, name: str | None = None) -> Protocol:
        key = name or self.default_protocol
        if key not in self.protocols:
            raise KeyError(f"clinic {self.id!r} has no protocol {key!r}")
        return self.protocols[key].to_domain(key)

    def plan_fingerprint(self) -> str:
        """A hash of everything that shapes a check-in plan; a change triggers re-planning."""
        shape = {
            "protocols": {k: v.model_dump(mode="json") for k, v in self.protocols.items()},
            "quiet_hours": self.quiet_hours.model_dump(mode="json") if self.quiet_hours else None,
            "windows": self.checkins.model_dump(mode="json"),
        }
        return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()

    def quiet(self) -> QuietHours | None:
        return self.quiet_hours.to_domain() if self.quiet_hours else None


class ClinicsConfig(_Strict):
    """The whole file: one or more clinics."""

    clinics: list[ClinicConfig] = Field(min_length=1)
    source: str = Field(default="built-in defaults", exclude=True)

    @model_validator(mode="after")
    def _unique_ids(self) -> ClinicsConfig:
        ids = [clinic.id for clinic in self.clinics]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ValueError(f"clinic ids must be unique; repeated: {', '.join(duplicated)}")
        return self

    def clinic(self, clinic_id: str) -> ClinicConfig:
        for clinic in self.clinics:
            if clinic.id == clinic_id:
                return clinic
        raise KeyError(clinic_id)


class ConfigError(Exception):
    """The clinic file cannot be used; the message names the file, the key and the problem."""


def default_clinics() -> ClinicsConfig:
    """The built-in clinic used when no file exists: CLINICAL.md defaults, US resources."""
    return ClinicsConfig(
        clinics=[
            ClinicConfig(
                id="default",
                name="Aftercare clinic",
                timezone="America/New_York",
                contact_phone="(set contact_phone in clinic.toml)",
                managed_by="console",  # no file to manage it
            )
        ]
    )


def key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in {"function-after", "function-before"} or "[" in str(part):
            continue
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def parse_clinics(text: str, *, source: str) -> ClinicsConfig:
    """Parse and validate a clinic file's text; raise ConfigError naming source and key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        config = ClinicsConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{source}: {key_path(first['loc'])}: {message}{more}") from None
    return config.model_copy(update={"source": source})


def load_clinics(path: Path) -> ClinicsConfig:
    """Read the clinic file, or fall back to the built-in defaults with a warning if absent."""
    if not path.exists():
        log.warning(
            "config.default_clinic path=%s: no clinic file, using the built-in default clinic",
            path,
        )
        return default_clinics()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    return parse_clinics(text, source=str(path))
