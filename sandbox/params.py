"""Reading and validating Bot API method parameters the way Telegram does (pure functions)."""

from __future__ import annotations

import json
from typing import Any

from sandbox.constants import BUTTON_ACTIONS, MAX_CALLBACK_DATA, MAX_CAPTION, JsonDict
from sandbox.helpers import clone, utf16_len
from sandbox.objects import Chat, bad_request


def message_id_of(p: JsonDict) -> int:
    """The message_id parameter, or "message identifier is not specified"."""
    message_id = p.get("message_id")
    if not isinstance(message_id, int):
        raise bad_request("message identifier is not specified")
    return message_id


def clean_text(value: Any) -> str:
    """Message text as Telegram keeps it: stripped of surrounding whitespace."""
    return "" if value is None else str(value).strip()


def caption_of(p: JsonDict) -> JsonDict:
    """The caption field of a media message (absent when empty)."""
    caption = clean_text(p.get("caption"))
    if utf16_len(caption) > MAX_CAPTION:
        raise bad_request("message caption is too long")
    return {"caption": caption} if caption else {}


def markup_of(p: JsonDict) -> JsonDict | None:
    """The validated reply_markup parameter."""
    markup = p.get("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        check_inline_keyboard(markup["inline_keyboard"])
    return clone(markup)


def inline_markup_of(p: JsonDict) -> JsonDict | None:
    """The reply_markup of an edit, which must be inline."""
    markup = markup_of(p)
    if markup is not None and "inline_keyboard" not in markup:
        raise bad_request("inline keyboard expected")
    return markup


def check_inline_keyboard(rows: Any) -> None:
    """Reject malformed inline keyboards the way Telegram does."""
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(
            'can\'t parse inline keyboard button: field "inline_keyboard" must be of type Array'
        )
    for button in (b for row in rows for b in row):
        if not isinstance(button, dict) or not isinstance(button.get("text"), str):
            raise bad_request(
                'can\'t parse inline keyboard button: Field "text" must be of type String'
            )
        if not BUTTON_ACTIONS & button.keys():
            raise bad_request(
                "can't parse inline keyboard button:"
                " Text buttons are unallowed in the inline keyboard"
            )
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
            raise bad_request("BUTTON_DATA_INVALID")


def reply_target(chat: Chat, p: JsonDict) -> JsonDict | None:
    """The message being replied to, if the request names one."""
    target = p.get("reply_to_message_id")
    tolerant = bool(p.get("allow_sending_without_reply"))
    parameters = p.get("reply_parameters")
    if isinstance(parameters, dict):
        target = parameters.get("message_id")
        tolerant = bool(parameters.get("allow_sending_without_reply"))
    if target is None:
        return None
    message = chat.messages.get(target) if isinstance(target, int) else None
    if message is None:
        if tolerant:
            return None
        raise bad_request("message to be replied not found")
    return {k: clone(v) for k, v in message.items() if k != "reply_to_message"}


def commands_key(p: JsonDict) -> tuple[str, str]:
    """Commands are stored per scope and language."""
    scope = p.get("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), str(p.get("language_code") or "")
