"""The case page's outreach forms: the log's choices and its time field (in the clinic's
zone), the resolve form's "reason if not reached", and what a refused post shows beside its
fields (`forms_context`, read by the case page)."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request

from bot.domain.schedule import resolve_local
from bot.i18n import C_, NC_
from bot.services.reaching.outreach import METHODS, OUTCOMES

NOT_REACHED_REASONS = (  # the form's values, and the note's words (the record stays English)
    NC_("Emergency services dispatched"),
    NC_("Not reachable after repeated attempts; emergency contact informed"),
    NC_("Referred to the emergency department"),
)
OTHER = "other"
_LOCAL = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})$")


def parse_local(raw: str, zone: ZoneInfo) -> datetime | None:
    """A `datetime-local` value ("2026-03-08T02:30") read in `zone`; ValueError if malformed."""
    raw = raw.strip()
    if not raw:
        return None
    match = _LOCAL.match(raw)
    if match is None:
        raise ValueError(C_("Give the time as YYYY-MM-DD HH:MM, or leave it empty for now."))
    y, mo, d, h, mi = (int(g) for g in match.groups())
    try:
        return resolve_local(date(y, mo, d), time(h, mi), zone)
    except ValueError:
        raise ValueError(C_("That is not a real date and time.")) from None


def not_reached_reason(choice: str, text: str) -> tuple[str, str | None]:
    """The reason the resolve form gives, and a problem with it (beside the field)."""
    choice, text = choice.strip(), " ".join(text.split())
    if choice in NOT_REACHED_REASONS:
        return (f"{choice}; {text}" if text else choice), None
    if choice == OTHER or (not choice and text):
        return (text, None) if text else ("", C_("Say why the patient was not reached."))
    if choice:
        return "", C_("Choose one of the reasons offered.")
    return "", None


def remember(request: Request, *, status: int = 400, **values: Any) -> None:
    """A refused post: the case page shows these (errors beside fields, what was typed)."""
    request.state.case_forms = {**getattr(request.state, "case_forms", {}), **values}
    request.state.case_status = status


def forms_context(request: Request) -> dict[str, Any]:
    """What the case page's outreach and resolve forms need."""
    context: dict[str, Any] = {
        "outreach_methods": {str(k): C_(v) for k, v in METHODS.items()},
        "outreach_outcomes": {str(k): C_(v) for k, v in OUTCOMES.items()},
        "not_reached_reasons": [(r, C_(r)) for r in NOT_REACHED_REASONS],
        "outreach_errors": {},
        "outreach_values": {},
        "resolve_error": "",
    }
    context.update(getattr(request.state, "case_forms", {}))
    return context


def case_status(request: Request) -> int:
    return int(getattr(request.state, "case_status", 200))
