"""Logging set-up: plain or JSON lines, with secrets redacted from every record."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO
from urllib.parse import unquote, urlsplit

from bot.settings import LogFormat, Settings

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class RedactFilter(logging.Filter):
    """Replace any configured secret (the bot token) wherever it appears in a record."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "<redacted>")
            record.msg, record.args = message, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event text and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


class SkippedTickFilter(logging.Filter):
    """Drop APScheduler's warning that a tick was skipped because the last one still runs.

    With a backlog the dispatcher's tick runs rounds back to back on purpose, so the skip is
    expected; whether the dispatcher keeps up is the lag metric and /healthz, not this line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


def log_secrets(settings: Settings) -> list[str]:
    """Every secret of the settings, as the redaction filter looks for them: the bot token,
    the webhook secrets, the SMTP URL and its password alone, the encryption key."""
    found: list[str] = []
    for secret in (
        settings.telegram_token,
        settings.webhook_secret,
        settings.smtp_url,
        settings.pagerduty_webhook_secret,
        settings.page_webhook_secret,
        settings.secret_key,
        settings.data_key,
    ):
        if secret is not None and secret.get_secret_value():
            found.append(secret.get_secret_value())
    if settings.smtp_url is not None:
        password = urlsplit(settings.smtp_url.get_secret_value()).password
        if password:
            found.append(unquote(password))
            found.append(password)
    return sorted(set(found), key=len, reverse=True)  # the longest first: a URL before its part


def configure_logging(
    level: str, fmt: LogFormat, *, secrets: list[str], stream: TextIO | None = None
) -> None:
    """Install one handler (stderr); quiet the HTTP client, whose INFO lines carry the token
    URL."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactFilter(secrets))
    if fmt is LogFormat.JSON:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in (
        "httpx",
        "httpcore",
        "apscheduler",
        "telegram.ext.ExtBot",
        "aiosqlite",
        "alembic",
    ):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    scheduler = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, SkippedTickFilter) for f in scheduler.filters):
        scheduler.addFilter(SkippedTickFilter())
