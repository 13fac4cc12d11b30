"""A local Telegram Bot API server for tests and the offline demo."""

from __future__ import annotations

from bot.sandbox.constants import BOT_ID
from bot.sandbox.objects import ApiError, RecordedCall, WebhookAttempt
from bot.sandbox.server import BotApiSandbox
from bot.sandbox.state import SandboxState

__all__ = ["BOT_ID", "ApiError", "BotApiSandbox", "RecordedCall", "SandboxState", "WebhookAttempt"]
