"""A local Telegram Bot API server for tests and the offline demo."""

from __future__ import annotations

from sandbox.constants import BOT_ID
from sandbox.objects import ApiError, RecordedCall, WebhookAttempt
from sandbox.server import BotApiSandbox
from sandbox.state import SandboxState

__all__ = ["BOT_ID", "ApiError", "BotApiSandbox", "RecordedCall", "SandboxState", "WebhookAttempt"]
