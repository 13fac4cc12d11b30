"""Process settings, read from the environment and an optional `.env` file."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class LogFormat(StrEnum):
    PLAIN = "plain"
    JSON = "json"


class Settings(BaseSettings):
    """Everything an operator sets per deployment; clinical choices live in the clinic file."""

    model_config = SettingsConfigDict(
        env_prefix="AFTERCARE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
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
    dispatch_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    lease_seconds: float = Field(default=60.0, gt=0)

    @field_validator("telegram_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level
