"""Constants of the Bot API sandbox: the bot's identity, Telegram's limits and error wording."""

from __future__ import annotations

import re
from typing import Any

JsonDict = dict[str, Any]

BOT_ID = 1_000_001
BOT_FIRST_NAME = "Aftercare"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_ALERT_TEXT = 200

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are"
    " exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active;"
    " use deleteWebhook to delete the webhook first"
)
TERMINATED_BY_POLL = (
    "Conflict: terminated by other getUpdates request;"
    " make sure that only one bot instance is running"
)
TERMINATED_BY_WEBHOOK = "Conflict: terminated by setWebhook request"
BLOCKED = "Forbidden: bot was blocked by the user"
DEACTIVATED = "Forbidden: user is deactivated"

FAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
BUTTON_ACTIONS = frozenset(
    {
        "callback_data",
        "url",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "callback_game",
        "pay",
        "web_app",
        "copy_text",
    }
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
MESSAGE_KEYS = ("message", "edited_message", "channel_post", "edited_channel_post")
COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,})?")
BOT_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
