"""The settings form's caring-contacts fields (`[clinics.caring]`, CLINICAL.md §12): the
clinic's values to fields and back, and the preview of a sample track's dates. Pure functions;
the validation is the clinic file's (`CaringConfig`), with a question refused beside its field."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, get_args
from zoneinfo import ZoneInfo

from bot.clinic_caring import CaringConfig
from bot.domain.caring import plan_track, refuse_question
from bot.domain.schedule import QuietHours
from bot.i18n import C_

SCHEDULES: tuple[str, ...] = get_args(CaringConfig.model_fields["schedule"].annotation)
TEXTS = "caring.texts"
PREVIEW_FORMAT = "%a %d %b %H:%M"


def caring_values(caring: CaringConfig) -> dict[str, Any]:
    """The form's caring fields; the texts one per line."""
    return {
        "caring.enabled": caring.enabled,
        "caring.schedule": caring.schedule,
        "caring.custom_days": ", ".join(str(d) for d in caring.custom_days),
        TEXTS: "\n".join(caring.texts),
        "caring.signed_by": caring.signed_by,
        "caring.staffed_hours": caring.staffed_hours,
        "caring.crisis_line": caring.crisis_line,
        "caring.window_start": caring.window_start,
        "caring.window_end": caring.window_end,
        "caring.series_end_days": caring.series_end_days,
    }


def read_caring(
    text: Callable[[str], str],
    shown: dict[str, Any],
    errors: dict[str, str],
    number: Callable[[str], int | None],
) -> dict[str, Any]:
    """The caring fields as the clinic file holds them; a problem goes to `errors`."""
    texts = [line.strip() for line in text(TEXTS).splitlines() if line.strip()]
    for index, line in enumerate(texts, start=1):
        problem = refuse_question(line)
        if problem:
            errors.setdefault(TEXTS, C_("message {n}: {problem}").format(n=index, problem=problem))
    if not texts:
        errors[TEXTS] = C_("write at least one caring message")
    days: list[int] = []
    for part in filter(None, (p.strip() for p in text("caring.custom_days").split(","))):
        if re.fullmatch(r"\d{1,4}", part):
            days.append(int(part))
        else:
            errors["caring.custom_days"] = C_(
                "days after the start, comma-separated, e.g. 1, 7, 30"
            )
    if text("caring.schedule") == "custom" and not days:
        errors.setdefault("caring.custom_days", C_('the "custom" schedule needs its days'))
    return {
        "enabled": bool(shown.get("caring.enabled")),
        "schedule": text("caring.schedule"),
        "custom_days": days,
        "texts": texts,
        "signed_by": text("caring.signed_by"),
        "staffed_hours": text("caring.staffed_hours"),
        "crisis_line": text("caring.crisis_line"),
        "window_start": text("caring.window_start"),
        "window_end": text("caring.window_end"),
        "series_end_days": number("caring.series_end_days"),
    }


def caring_field(parts: list[str]) -> str:
    """The form field a caring validation error belongs beside."""
    if len(parts) > 1:
        return f"caring.{parts[1]}"
    return "caring.window_end"  # the one whole-section rule left: the window


def preview_dates(
    caring: CaringConfig, *, zone: ZoneInfo, quiet: QuietHours | None, start: datetime
) -> list[str]:
    """When a track started at `start` would send each message, in `zone` ("Tue 08 Dec 14:37");
    none when quiet hours leave no time in the send window."""
    try:
        due = plan_track(
            track_id=0,
            started_at=start,
            schedule=caring.offsets(),
            zone=zone,
            window=caring.window(),
            quiet=quiet,
        )
    except ValueError:
        return []
    return [at.astimezone(zone).strftime(PREVIEW_FORMAT) for at in due]
