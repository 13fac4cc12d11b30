"""How check-in questions look in Telegram: text, buttons and the callback data behind them.

Callback data is `c:<checkin id>:<item>:<value>` (at most ~30 bytes, under Telegram's 64);
it names the check-in and item, and is checked against the chat's patient on every tap.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain import checkin_flow, instruments
from bot.domain.checkin_flow import Tap
from bot.domain.schedule import checkin_label
from storage.models import Checkin
from storage.states import CheckinKind

PREFIX = "c"
_ID = re.compile(r"^[0-9]{1,9}$")  # ASCII digits that fit a database integer


def parse_tap(data: str | None) -> Tap | None:
    """Parse callback data; None for anything malformed (forged or from an old version)."""
    if not data:
        return None
    parts = data.split(":")
    if len(parts) != 4 or parts[0] != PREFIX or not _ID.match(parts[1]):
        return None
    if parts[2] not in checkin_flow.ALL_ITEMS:
        return None
    return Tap(checkin_id=int(parts[1]), item_id=parts[2], value=parts[3])


def keyboard_json(checkin_id: int, item_id: str) -> dict[str, Any]:
    """A question's answer buttons as the Bot API's JSON `reply_markup` (no PTB objects)."""
    return {
        "inline_keyboard": [
            [
                {"text": label, "callback_data": f"{PREFIX}:{checkin_id}:{item_id}:{value}"}
                for label, value in row
            ]
            for row in checkin_flow.choices(item_id)
        ]
    }


def checkin_title(checkin: Checkin, *, infusion_ended_at_local: str | None) -> str:
    """'4-hour check-in after your infusion on Tue 25 Nov', or the ad-hoc title."""
    if checkin.kind == CheckinKind.ADHOC or checkin.infusion_id is None:
        return "Check-in"
    offset = (
        timedelta(seconds=checkin.offset_seconds) if checkin.offset_seconds is not None else None
    )
    label = checkin_label(checkin.kind, offset, checkin.day)  # type: ignore[arg-type]
    label = label[0].upper() + label[1:]
    return f"{label} after your infusion on {infusion_ended_at_local}"


def question_text(item_id: str, *, title: str | None = None) -> str:
    """A question's text; the first question of a check-in carries the check-in's title."""
    item = instruments.item(item_id)
    text = item.text
    if item_id == "s1":
        text = f"{instruments.cssrs().preamble}\n\n{text}"
    return f"{title}\n\n{text}" if title else text


def answered_text(question: str, item_id: str, value: str) -> str:
    """The question as it reads once answered: the choice shown, the buttons gone."""
    return f"{question}\n\n✓ {checkin_flow.answer_label(item_id, value)}"


def answered_line(item_id: str, value: str) -> str:
    """An answer on its own line ("Question 3: No"), when its question could not show it."""
    name = {checkin_flow.MOOD: "Mood", checkin_flow.RED_FLAGS: "Red flags"}.get(item_id)
    if name is None and item_id in checkin_flow.CSSRS_ITEMS:
        name = f"Question {checkin_flow.CSSRS_ITEMS.index(item_id) + 1}"
    return f"{name or item_id}: {checkin_flow.answer_label(item_id, value)}"


def local_day(instant: datetime, zone: ZoneInfo) -> str:
    return f"{instant.astimezone(zone):%a %d %b}"
