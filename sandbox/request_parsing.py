"""Decoding Bot API requests: query string, JSON, urlencoded and multipart bodies, and uploads."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

import tornado.httputil

from sandbox.constants import JsonDict
from sandbox.objects import ApiError, Upload

JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "allowed_updates",
        "entities",
        "caption_entities",
        "link_preview_options",
        "reply_parameters",
        "commands",
        "scope",
        "media",
    }
)
INT_FIELDS = frozenset(
    {
        "chat_id",
        "message_id",
        "offset",
        "limit",
        "timeout",
        "reply_to_message_id",
        "message_thread_id",
        "max_connections",
        "cache_time",
        "user_id",
    }
)
BOOL_FIELDS = frozenset(
    {
        "drop_pending_updates",
        "show_alert",
        "disable_notification",
        "protect_content",
        "allow_sending_without_reply",
        "has_spoiler",
        "disable_content_type_detection",
    }
)
INT_RE = re.compile(r"-?\d+")


def normalise(params: JsonDict) -> JsonDict:
    """Decode form values the way Telegram does: JSON objects, integers, booleans."""
    return {key: _decode_value(key, value) for key, value in params.items()}


def _decode_value(key: str, value: Any) -> Any:
    """One decoded parameter value."""
    if not isinstance(value, str):
        return value
    if key in JSON_FIELDS:
        with contextlib.suppress(ValueError):
            return json.loads(value)
    elif key in INT_FIELDS and INT_RE.fullmatch(value):
        return int(value)
    elif key in BOOL_FIELDS and value in ("true", "false"):
        return value == "true"
    return value


def parse_request(
    request: tornado.httputil.HTTPServerRequest,
) -> tuple[JsonDict, dict[str, Upload]]:
    """Parameters (query string, then body) and uploaded files of a Bot API request."""
    params: JsonDict = _form_fields(request.query_arguments)
    content_type = request.headers.get("Content-Type", "")
    if content_type.startswith("application/json") and request.body:
        try:
            body = json.loads(request.body)
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse JSON encoded request body") from None
        if not isinstance(body, dict):
            raise ApiError(400, "Bad Request: JSON object expected as request body")
        params |= body
    else:
        params |= _form_fields(request.body_arguments)
    uploads = {
        name: Upload(files[0].filename, files[0].content_type, files[0].body)
        for name, files in request.files.items()
        if files
    }
    return normalise(params), uploads


def _form_fields(arguments: dict[str, list[bytes]]) -> JsonDict:
    """The last value of every form field, decoded as UTF-8."""
    return {
        key: values[-1].decode("utf-8", "replace") for key, values in arguments.items() if values
    }


def as_int(value: Any, default: int) -> int:
    """An integer parameter, or the default."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def as_float(value: Any, default: float) -> float:
    """A number parameter, or the default."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return default
