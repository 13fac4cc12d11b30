"""A local Telegram Bot API server for tests and the offline demo."""

from __future__ import annotations

from bot.sandbox.server import BotApiSandbox
from bot.sandbox.state import BOT_ID, ApiError, RecordedCall, SandboxState, WebhookAttempt

__all__ = ["BOT_ID", "ApiError", "BotApiSandbox", "RecordedCall", "SandboxState", "WebhookAttempt"]
