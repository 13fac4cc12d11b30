"""A clinic's settings as stored (JSON) and as a clinic file (TOML), and what differs between
two versions: pure functions over `ClinicConfig`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import tomli_w
from pydantic import ValidationError

from bot.clinic_config import ClinicConfig, ConfigError, key_path


@dataclass(frozen=True)
class Change:
    path: str  # e.g. "protocols.standard.offsets"
    before: Any
    after: Any


def as_json(clinic: ClinicConfig) -> dict[str, Any]:
    data: dict[str, Any] = clinic.model_dump(mode="json")
    return data


def from_json(text: str, *, where: str) -> ClinicConfig:
    """A stored version back as a validated clinic; ConfigError naming the version if not."""
    try:
        return ClinicConfig.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            message = f"{key_path(first['loc'])}: {first['msg']}"
        else:
            message = str(exc)
        raise ConfigError(f"{where}: stored settings are not valid: {message}") from None


def as_toml(clinic: ClinicConfig) -> str:
    """One clinic as a clinic file (`[[clinics]]`), loadable by `aftercare config check`."""
    data = _no_nulls(as_json(clinic))
    header = (
        f"# Clinic {clinic.id!r}, exported from Aftercare's database.\n"
        "# Durations are ISO-8601 (PT4H = 4 hours). Check with: aftercare config check FILE\n"
    )
    return header + tomli_w.dumps({"clinics": [data]})


OFF_WHEN_NONE = {"quiet_hours", "red_flags_at"}  # None means "off" where the default is on


def _no_nulls(value: Any) -> Any:
    """TOML has no null: a setting switched off is written `false` (`quiet_hours = false`);
    one that is simply unset (a routing key, a webhook URL) is left out."""
    if isinstance(value, dict):
        return {
            key: False if item is None else _no_nulls(item)
            for key, item in value.items()
            if item is not None or key in OFF_WHEN_NONE
        }
    if isinstance(value, list):
        return [_no_nulls(item) for item in value]
    return value


def changes_between(before: ClinicConfig, after: ClinicConfig) -> list[Change]:
    """Every setting that differs, by dotted path (lists compared whole)."""
    return [
        Change(path, old, new)
        for path, (old, new) in _diff(as_json(before), as_json(after), "").items()
    ]


def _diff(old: Any, new: Any, path: str) -> dict[str, tuple[Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        found: dict[str, tuple[Any, Any]] = {}
        for key in sorted(set(old) | set(new)):
            found.update(_diff(old.get(key), new.get(key), f"{path}.{key}" if path else key))
        return found
    return {} if old == new else {path: (old, new)}
