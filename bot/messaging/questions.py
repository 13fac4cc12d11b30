"""How check-in questions look in Telegram: text, buttons and the callback data behind them.

Callback data is `c:<checkin id>:<item>:<value>` (at most ~30 bytes, under Telegram's 64);
it names the check-in and item, and is checked against the chat's patient on every tap.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from bot.domain import checkin_flow, instruments
from bot.domain.checkin_flow import Tap
from bot.domain.schedule import offset_parts
from bot.i18n import _, current_language, ngettext
from bot.messaging import texts
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
                {"text": _(label), "callback_data": f"{PREFIX}:{checkin_id}:{item_id}:{value}"}
                for label, value in row
            ]
            for row in checkin_flow.choices(item_id)
        ]
    }


def checkin_title(checkin: Checkin, *, infusion_ended_at_local: str | None) -> str:
    """'4-hour check-in after your infusion on Tue 25 Nov', or the ad-hoc title."""
    if checkin.kind == CheckinKind.ADHOC or checkin.infusion_id is None:
        return _("Check-in")
    offset = (
        timedelta(seconds=checkin.offset_seconds) if checkin.offset_seconds is not None else None
    )
    if checkin.kind == CheckinKind.OFFSET and offset is not None:
        label = _offset_title(offset)
    elif checkin.kind == CheckinKind.DAILY and checkin.day is not None:
        label = _("Day {day} daily check-in").format(day=checkin.day)
    else:
        raise ValueError(f"no title for a {checkin.kind!r} check-in")
    return _("{checkin} after your infusion on {day}").format(
        checkin=label, day=infusion_ended_at_local
    )


def _offset_title(offset: timedelta) -> str:
    """ "4-hour check-in", in the largest whole unit (as `humanize_offset` picks it)."""
    n, count, unit = offset_parts(offset)
    if unit == "day":
        return ngettext("{n}-day check-in", "{n}-day check-in", count).format(n=n)
    if unit == "hour":
        return ngettext("{n}-hour check-in", "{n}-hour check-in", count).format(n=n)
    if unit == "minute":
        return ngettext("{n}-minute check-in", "{n}-minute check-in", count).format(n=n)
    return ngettext("{n}-second check-in", "{n}-second check-in", count).format(n=n)


def question_text(item_id: str, *, title: str | None = None) -> str:
    """A question's text; the first question of a check-in carries the check-in's title."""
    """The C-SSRS items and preamble come from the instrument file of the current language
    (an installed licensed translation; never our catalogues); Aftercare's own items are
    translated by gettext (extracted from their TOML file by `bot.i18n.catalogues`)."""
    language = current_language()
    item = instruments.item(item_id, language)
    own = item.instrument_id == instruments.checkin_items().id
    text = _(item.text) if own else item.text
    if item_id == "s1":
        text = f"{instruments.cssrs(language).preamble}\n\n{text}"
    return f"{title}\n\n{text}" if title else text


def reminder_text(item_id: str) -> str:
    """The reminder of an open check-in, with the question it waits for."""
    return f"{_(texts.REMINDER)}\n\n{question_text(item_id)}"


def answered_text(question: str, item_id: str, value: str) -> str:
    """The question as it reads once answered: the choice shown, the buttons gone."""
    return f"{question}\n\n✓ {texts.answer_text(item_id, value)}"


def answered_line(item_id: str, value: str) -> str:
    """An answer on its own line ("Question 3: No"), when its question could not show it."""
    if item_id == checkin_flow.MOOD:
        name = _("Mood")
    elif item_id == checkin_flow.RED_FLAGS:
        name = _("Red flags")
    elif item_id in checkin_flow.CSSRS_ITEMS:
        name = _("Question {number}").format(number=checkin_flow.CSSRS_ITEMS.index(item_id) + 1)
    elif item_id == checkin_flow.NOTE:
        name = _("note")
    else:
        name = item_id
    return f"{name}: {texts.answer_text(item_id, value)}"
