"""What the console shows of secrets in a clinic's settings (the rule; the console's forms apply
it): a paging-service routing key is shown masked (`••••••••1a2b`, its last four characters) to
everyone, admins included once it is saved; sent back unchanged it keeps the stored key, a new
value replaces it, an empty field removes it. A URL that may carry a token (the clinic's
webhook, the events endpoint) is shown whole to admins and as its host to the other clinicians.
Pure functions over the forms' values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from bot.i18n import C_, NC_
from bot.services.clinic.settings_shape import Change

MASK = "•" * 8
SHOWN_TAIL = 4
MIN_FOR_TAIL = 12  # a shorter key is shown as the mask alone
URL_FIELDS = ("paging.webhook_url", "paging.events_url")
MASK_EDITED = NC_(  # said with C_() beside the field
    "type the whole new key, or leave the masked one as it is to keep the stored key"
)


def is_secret(key: str) -> bool:
    """A settings field (or changed setting's path) that holds a routing key."""
    return key == "paging.routing_key" or key.startswith("paging.routing_keys.")


def masked(value: str | None) -> str:
    """`••••••••1a2b`; empty for no value."""
    if not value:
        return ""
    return MASK + (value[-SHOWN_TAIL:] if len(value) >= MIN_FOR_TAIL else "")


def host_of(url: str | None) -> str:
    """Only the host of a URL (no path, query or credentials)."""
    if not url:
        return ""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def shown(
    values: Mapping[str, Any], *, stored: Mapping[str, Any], is_admin: bool
) -> dict[str, Any]:
    """The form's values as this viewer may see them: every stored routing key masked (a value
    an admin just typed and that is not stored yet is shown back as typed); URLs as their host
    unless the viewer is an admin."""
    out = dict(values)
    for key, value in values.items():
        if is_secret(key) and (not is_admin or value == stored.get(key)):
            out[key] = masked(str(value or ""))
        elif key in URL_FIELDS and not is_admin:
            out[key] = host_of(str(value or ""))
    return out


def unmasked(
    values: Mapping[str, Any], *, stored: Mapping[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    """The submitted values with each routing key resolved: its masked form unchanged keeps the
    stored key; anything else is the new key (empty: none). A value that still holds the
    mask's dots but is not the mask is a problem beside its field."""
    out = dict(values)
    for key, value in values.items():
        if not is_secret(key):
            continue
        sent, kept = str(value or "").strip(), str(stored.get(key) or "")
        if kept and sent == masked(kept):
            out[key] = kept
        elif "•" in sent:
            errors[key] = C_(MASK_EDITED)
    return out


def shown_changes(changes: list[Change], *, is_admin: bool) -> list[Change]:
    """Changes between settings versions as this viewer may see them (keys always masked)."""

    def hidden(path: str, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: hidden(f"{path}.{key}", item) for key, item in value.items()}
        if not isinstance(value, str):
            return value
        if is_secret(path):
            return masked(value)
        return host_of(value) if path in URL_FIELDS and not is_admin else value

    return [
        replace(c, before=hidden(c.path, c.before), after=hidden(c.path, c.after)) for c in changes
    ]
