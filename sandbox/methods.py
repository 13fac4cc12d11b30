"""The synchronous Bot API methods of the sandbox, as a mixin of SandboxState."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sandbox.constants import (
    BLOCKED,
    BOT_COMMAND_RE,
    BOT_FIRST_NAME,
    BOT_ID,
    CHAT_ACTIONS,
    DEACTIVATED,
    MAX_ALERT_TEXT,
    MAX_TEXT,
    NOT_MODIFIED,
    QUERY_TOO_OLD,
    SECRET_RE,
    JsonDict,
)
from sandbox.helpers import clone, is_bot_message, now, utf16_len
from sandbox.objects import (
    ApiError,
    Chat,
    Handler,
    QueuedUpdate,
    StoredFile,
    Upload,
    User,
    Webhook,
    bad_request,
)
from sandbox.params import (
    caption_of,
    clean_text,
    commands_key,
    inline_markup_of,
    markup_of,
    message_id_of,
    reply_target,
)


class MethodsMixin:
    """The Bot API methods; SandboxState supplies the attributes annotated here."""

    bot_username: str
    users: dict[int, User]
    chats: dict[int, Chat]
    queue: list[QueuedUpdate]
    allowed_updates: list[str]
    open_queries: set[str]
    query_answers: dict[str, JsonDict]
    commands: dict[tuple[str, str], list[JsonDict]]
    files: dict[str, StoredFile]
    webhook: Webhook | None
    webhook_error: tuple[int, str] | None
    _serial: Iterator[int]
    changed: Callable[[], None]

    def method_handlers(self) -> dict[str, Handler]:
        """Every synchronous method by its official name (getUpdates is the server's)."""
        return {
            "getMe": self.get_me,
            "sendMessage": self.send_message,
            "editMessageText": self.edit_message_text,
            "editMessageCaption": self.edit_message_caption,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "answerCallbackQuery": self.answer_callback_query,
            "sendPhoto": self.send_photo,
            "sendDocument": self.send_document,
            "setMyCommands": self.set_my_commands,
            "getMyCommands": self.get_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "sendChatAction": self.send_chat_action,
            "deleteMessage": self.delete_message,
            "close": self.accept,
            "logOut": self.accept,
        }

    def bot_user(self, *, full: bool = False) -> JsonDict:
        """The bot's User object (getMe adds the capability flags)."""
        user: JsonDict = {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": self.bot_username,
        }
        if full:
            user |= {
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
                "can_connect_to_business": False,
                "has_main_web_app": False,
            }
        return user

    # ----------------------------------------------------------------- Bot API methods

    def accept(self, p: JsonDict, uploads: dict[str, Upload]) -> bool:
        """close / logOut: nothing to do."""
        return True

    def get_me(self, p: JsonDict, uploads: dict[str, Upload]) -> JsonDict:
        """getMe."""
        return self.bot_user(full=True)

    def send_message(self, p: JsonDict, uploads: dict[str, Upload]) -> JsonDict:
        """sendMessage."""
        chat = self._writable_chat(p)
        text = clean_text(p.get("text"))
        if not text:
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise bad_request("message is too long")
        return self._send(chat, p, {"text": text})

    def send_photo(self, p: JsonDict, uploads: dict[str, Upload]) -> JsonDict:
        """sendPhoto."""
        chat = self._writable_chat(p)
        stored = self._media(p, uploads, "photo")
        size: JsonDict = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        size |= {"width": 640, "height": 480, "file_size": len(stored.data or b"")}
        return self._send(chat, p, {"photo": [size], **caption_of(p)})

    def send_document(self, p: JsonDict, uploads: dict[str, Upload]) -> JsonDict:
        """sendDocument."""
        chat = self._writable_chat(p)
        stored = self._media(p, uploads, "document")
        document: JsonDict = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if stored.file_name:
            document["file_name"] = stored.file_name
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        document["file_size"] = len(stored.data or b"")
        return self._send(chat, p, {"document": document, **caption_of(p)})

    def edit_message_text(self, p: JsonDict, uploads: dict[str, Upload]) -> JsonDict:
        """editMessageText."""
        message = self._editable(p)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text = clean_text(p.get("text"))
        if not text:
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise bad_request("MESSAGE_TOO_LONG")
        return self._edit(message, {"text": text}, inline_markup_of(p))

    def edit_message_caption(self, p: JsonDict, uploads: dict[str, Upload]) -> JsonDict:
        """editMessageCaption."""
        message = self._editable(p)
        if "photo" not in message and "document" not in message:
            raise bad_request("there is no caption in the message to edit")
        return self._edit(message, caption_of(p), inline_markup_of(p), replace=("caption",))

    def edit_message_reply_markup(self, p: JsonDict, uploads: dict[str, Upload]) -> JsonDict:
        """editMessageReplyMarkup."""
        message = self._editable(p)
        return self._edit(message, {}, inline_markup_of(p))

    def delete_message(self, p: JsonDict, uploads: dict[str, Upload]) -> bool:
        """deleteMessage."""
        chat = self._known_chat(p)
        if chat.messages.pop(message_id_of(p), None) is None:
            raise bad_request("message to delete not found")
        self.changed()
        return True

    def answer_callback_query(self, p: JsonDict, uploads: dict[str, Upload]) -> bool:
        """answerCallbackQuery; every query can be answered once."""
        query_id = str(p.get("callback_query_id") or "")
        if query_id not in self.open_queries:
            raise ApiError(400, QUERY_TOO_OLD)
        if utf16_len(str(p.get("text") or "")) > MAX_ALERT_TEXT:
            raise bad_request("MESSAGE_TOO_LONG")
        self.open_queries.discard(query_id)
        self.query_answers[query_id] = {k: p[k] for k in ("text", "show_alert", "url") if k in p}
        self.changed()
        return True

    def send_chat_action(self, p: JsonDict, uploads: dict[str, Upload]) -> bool:
        """sendChatAction."""
        self._writable_chat(p)
        if p.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def set_my_commands(self, p: JsonDict, uploads: dict[str, Upload]) -> bool:
        """setMyCommands."""
        commands = p.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("can't parse commands JSON object")
            if not BOT_COMMAND_RE.fullmatch(str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise bad_request("command description is empty")
        self.commands[commands_key(p)] = clone(commands)
        return True

    def get_my_commands(self, p: JsonDict, uploads: dict[str, Upload]) -> list[JsonDict]:
        """getMyCommands."""
        return clone(self.commands.get(commands_key(p), []))

    def delete_my_commands(self, p: JsonDict, uploads: dict[str, Upload]) -> bool:
        """deleteMyCommands."""
        self.commands.pop(commands_key(p), None)
        return True

    def set_webhook(self, p: JsonDict, uploads: dict[str, Upload]) -> bool:
        """setWebhook (an empty url removes the webhook)."""
        url = str(p.get("url") or "")
        if not url:
            return self.delete_webhook(p, uploads)
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get("secret_token")
        if secret is not None and not SECRET_RE.fullmatch(str(secret)):
            raise bad_request("secret token contains unallowed characters")
        if isinstance(p.get("allowed_updates"), list):
            self.allowed_updates = list(p["allowed_updates"])
        if p.get("drop_pending_updates"):
            self.queue.clear()
        self.webhook = Webhook(url, str(secret) if secret is not None else None)
        self.webhook_error = None
        self.changed()
        return True

    def delete_webhook(self, p: JsonDict, uploads: dict[str, Upload]) -> bool:
        """deleteWebhook."""
        if p.get("drop_pending_updates"):
            self.queue.clear()
        self.webhook = None
        self.changed()
        return True

    def get_webhook_info(self, p: JsonDict, uploads: dict[str, Upload]) -> JsonDict:
        """getWebhookInfo."""
        info: JsonDict = {
            "url": self.webhook.url if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.queue),
        }
        if self.webhook is not None:
            info["max_connections"] = 40
            if self.allowed_updates:
                info["allowed_updates"] = list(self.allowed_updates)
            if self.webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = self.webhook_error
        return info

    # ----------------------------------------------------------------- method helpers

    def _known_chat(self, p: JsonDict) -> Chat:
        """The chat named by chat_id, or "chat not found"."""
        chat_id = p.get("chat_id")
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        chat = self.chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def _writable_chat(self, p: JsonDict) -> Chat:
        """A chat the bot may write to (403 if the user blocked the bot or is gone)."""
        chat = self._known_chat(p)
        user = self.users.get(int(chat.info["id"]))
        if user is not None and user.deactivated:
            raise ApiError(403, DEACTIVATED)
        if user is not None and user.blocked:
            raise ApiError(403, BLOCKED)
        return chat

    def _editable(self, p: JsonDict) -> JsonDict:
        """The bot message an edit method targets."""
        if p.get("inline_message_id") is not None:
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self._writable_chat(p)
        message = chat.messages.get(message_id_of(p))
        if message is None:
            raise bad_request("message to edit not found")
        if not is_bot_message(message):
            raise bad_request("message can't be edited")
        return message

    def _send(self, chat: Chat, p: JsonDict, content: JsonDict) -> JsonDict:
        """Validate the markup and reply target, then store a new bot message."""
        markup = markup_of(p)
        reply = reply_target(chat, p)
        message: JsonDict = {
            "message_id": chat.allocate_id(),
            "from": self.bot_user(),
            "chat": clone(chat.info),
            "date": now(),
        }
        if reply is not None:
            message["reply_to_message"] = reply
        message |= content
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        elif markup is not None and "keyboard" in markup:
            chat.reply_keyboard = markup
        elif markup is not None and markup.get("remove_keyboard"):
            chat.reply_keyboard = None
        chat.messages[message["message_id"]] = message
        self.changed()
        return clone(message)

    def _edit(
        self,
        message: JsonDict,
        content: JsonDict,
        markup: JsonDict | None,
        replace: tuple[str, ...] = (),
    ) -> JsonDict:
        """Apply an edit, refusing one that changes nothing."""
        same_content = all(message.get(k) == content.get(k) for k in {*content, *replace})
        if same_content and message.get("reply_markup") == markup:
            raise ApiError(400, NOT_MODIFIED)
        for key in replace:
            message.pop(key, None)
        message |= content
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        message["edit_date"] = now()
        self.changed()
        return clone(message)

    def _media(self, p: JsonDict, uploads: dict[str, Upload], kind: str) -> StoredFile:
        """The file sent as `kind`: an upload, a known file_id, or a URL."""
        value = p.get(kind)
        upload = uploads.get(kind)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value.removeprefix("attach://"))
        if upload is not None:
            return self._store_file(upload.filename, upload.content_type, upload.body)
        if not isinstance(value, str) or not value:
            raise bad_request(f"there is no {kind} in the request")
        if value in self.files:
            return self.files[value]
        if value.startswith(("http://", "https://")):
            return self._store_file(value.rsplit("/", 1)[-1] or None, None, None)
        raise bad_request("wrong file identifier/HTTP URL specified")

    def _store_file(self, name: str | None, mime: str | None, data: bytes | None) -> StoredFile:
        """Remember a sent file under a fresh file_id."""
        serial = next(self._serial)
        stored = StoredFile(f"SANDBOX-FILE-{serial}", f"U{serial}", name, mime, data)
        self.files[stored.file_id] = stored
        return stored
