"""Process settings, read from the environment and an optional `.env` file."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.crypto.keys import KeyEncryptionKeys, KeyProblem, parse
from bot.domain.outbound import OutboundPolicy

WEBHOOK_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")


class LogFormat(StrEnum):
    PLAIN = "plain"
    JSON = "json"


class Settings(BaseSettings):
    """Everything an operator sets per deployment; clinical choices live in the clinic file."""

    model_config = SettingsConfigDict(
        env_prefix="AFTERCARE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    telegram_token: SecretStr | None = Field(
        default=None, description="Bot token from @BotFather; required by `aftercare run`."
    )
    telegram_api_url: str = Field(
        default="https://api.telegram.org",
        description="Bot API server root; the bot calls {url}/bot{token}/{method}.",
    )
    bot_username: str | None = Field(
        default=None, description="For invite links from the CLI; asked of Telegram if unset."
    )
    database_url: str = Field(default="sqlite+aiosqlite:///./aftercare.db")
    config: Path = Field(default=Path("./clinic.toml"), description="Clinic configuration file.")
    log_level: str = Field(default="INFO")
    log_format: LogFormat = Field(default=LogFormat.PLAIN)
    instance_id: str | None = Field(
        default=None, description="Name of this instance in leases and logs; hostname-pid if unset."
    )
    send_rate_per_second: float = Field(
        default=30.0,
        ge=0,
        description="Sends per second for this instance (0 = no limiter); "
        "Telegram allows about 30 per bot, so divide by the number of instances.",
    )
    routine_chat_interval_seconds: float = Field(default=1.0, ge=0)
    dispatch_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    lease_seconds: float = Field(default=60.0, gt=0)
    settings_poll_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How often an instance looks for clinic settings saved in the console "
        "(by any instance).",
    )
    intake_concurrency: int = Field(
        default=16, ge=1, le=256, description="Chats whose updates are processed side by side."
    )
    intake_max_attempts: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Tries of an update that fails for a reason of its own (not a database "
        "outage) before it is parked for a person.",
    )
    intake_retry_seconds: float = Field(
        default=2.0, gt=0, le=600, description="Wait before the first retry; doubles each try."
    )
    webhook_url: str | None = Field(
        default=None,
        description="Public HTTPS URL Telegram posts updates to; set, `aftercare run` uses a "
        "webhook instead of long polling.",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token; required with "
        "a webhook (1-256 of A-Z a-z 0-9 _ -).",
    )
    webhook_listen: str = Field(default="0.0.0.0", description="Address the webhook server binds.")
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    webhook_path: str = Field(default="/telegram", description="Path Telegram posts updates to.")
    health_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("AFTERCARE_HTTP_PORT", "AFTERCARE_HEALTH_PORT"),
        description="In polling mode, serve HTTP (/healthz, /metrics, the console) on this port "
        "(AFTERCARE_HTTP_PORT; the older name AFTERCARE_HEALTH_PORT still works). Webhook mode "
        "serves them on the webhook port.",
    )
    console_url: str | None = Field(
        default=None,
        description="Public URL of the clinic console (the `/console` path of the bot's HTTP "
        "server, e.g. https://aftercare.example.org/console); used in the links the bot sends.",
    )
    console_language: Literal["en", "en-XA"] = Field(
        default="en",
        description="The console's language: en (its texts exist in English only so far), or "
        "en-XA, the pseudo-locale, to see that every console text is extractable.",
    )
    trust_forwarded: bool = Field(
        default=False,
        description="Honour X-Forwarded-Proto/For (only behind a reverse proxy you run).",
    )
    smtp_url: SecretStr | None = Field(
        default=None,
        description="SMTP server for e-mailed pages: "
        "smtp://[user:pass@]host[:port][?starttls=true] or smtps://… (implicit TLS); "
        "unset, rungs' e-mail channel sends nothing.",
    )
    smtp_from: str = Field(
        default="Aftercare <aftercare@localhost>", description="From address of e-mailed pages."
    )
    pagerduty_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Verifies PagerDuty webhooks (v3) posted to /pagerduty/webhook; unset, that "
        "endpoint refuses everything.",
    )
    page_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Legacy: one secret that signs the webhook of every clinic without a "
        "signing secret of its own (a warning at start-up); prefer per-clinic secrets.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key that encrypts the clinics' webhook signing secrets at rest "
        "(`aftercare webhook new-key` prints one); several, comma-separated, to change keys: "
        "the first encrypts, every one decrypts. Unset, no clinic can create a signing secret.",
    )
    data_key: SecretStr | None = Field(
        default=None,
        description="Key-encryption keys for the patients' data keys, `ID:KEY`, newest first, "
        "comma-separated (`aftercare keys new` prints one): patients' words, contacts and names "
        "are sealed at rest; `aftercare run` refuses to start without it. Losing every listed "
        "key loses every sealed text.",
    )
    keyring_url: str | None = Field(
        default=None,
        description="Where the patients' data keys live, apart from the data so that a backup "
        "of the data holds none: SQLite defaults to NAME.keys.db beside the data file; "
        "PostgreSQL to the data's own database (set a second database to keep them apart).",
    )
    heartbeat_url: str | None = Field(
        default=None, description="Requested while healthy, for a dead-man's-switch monitor."
    )
    heartbeat_interval_seconds: float = Field(default=60.0, gt=0)
    audit_head_file: Path | None = Field(
        default=None,
        description="Append the audit chain's head here (`<time> <id> <hash>`) at start-up and "
        "hourly; keep it where the database's writers cannot change it.",
    )
    outbound_allow: str = Field(
        default="",
        description="Hosts and networks outbound posts may reach although they are not public "
        "(comma-separated CIDRs and host names, `*.corp.example` for every name under one): "
        "an SMTP relay or a receiver on your own network. Clinics' webhooks, paging-service "
        "URLs and the SMTP host are refused when they are or resolve to loopback, private, "
        "link-local (cloud metadata), CGNAT, multicast or reserved addresses.",
    )
    outbound_allow_http: bool = Field(
        default=False,
        description="Let clinics' webhooks and paging-service URLs be plain http:// (else "
        "https:// only).",
    )

    @field_validator("data_key")
    @classmethod
    def _data_key_parses(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                parse(value.get_secret_value())
            except KeyProblem as problem:
                raise ValueError(str(problem)) from None
        return value

    def keks(self) -> KeyEncryptionKeys | None:
        """The key-encryption keys, None when AFTERCARE_DATA_KEY is unset."""
        return None if self.data_key is None else parse(self.data_key.get_secret_value())

    @field_validator("telegram_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator(
        "webhook_url",
        "heartbeat_url",
        "webhook_secret",
        "health_port",
        "audit_head_file",
        "console_url",
        "smtp_url",
        "pagerduty_webhook_secret",
        "page_webhook_secret",
        "secret_key",
        "data_key",
        "keyring_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("webhook_url", "heartbeat_url", "console_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("console_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value is not None else None

    @field_validator("webhook_secret")
    @classmethod
    def _secret_token_charset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not WEBHOOK_SECRET_RE.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("secret_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            for key in value.get_secret_value().split(","):
                try:
                    Fernet(key.strip())
                except (ValueError, TypeError):
                    raise ValueError(
                        "must be Fernet keys (32 url-safe base64-encoded bytes each, comma-"
                        "separated); `aftercare webhook new-key` prints one"
                    ) from None
        return value

    @field_validator("outbound_allow")
    @classmethod
    def _outbound_allow_list(cls, value: str) -> str:
        OutboundPolicy.parse(value)  # a ValueError names the entry it cannot read
        return value

    def outbound_policy(self) -> OutboundPolicy:
        """What outbound posts may reach (`bot/domain/outbound.py`)."""
        return OutboundPolicy.parse(self.outbound_allow, allow_http=self.outbound_allow_http)

    @field_validator("webhook_path")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        if not value.startswith("/") or any(c in value for c in "?# "):
            raise ValueError("must be a URL path starting with /")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level
