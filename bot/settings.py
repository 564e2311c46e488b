"""Configuration, read once in `main()` and passed down; never at import time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every key is documented in `.env.example`."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"

    database_path: Path = Path("data/trellis.sqlite3")
    data_encryption_key: SecretStr | None = None
    key_file: Path = Path("secrets/trellis.key")

    default_timezone: str = "Europe/London"
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443

    invite_ttl_days: int = Field(default=7, ge=1, le=60)
    reminder_after_hours: float = Field(default=24, gt=0)
    checkin_window_hours: float = Field(default=72, gt=0)
    sweep_interval_seconds: float = Field(default=30, gt=0)
    # Owed messages in flight at once. A crash can repeat at most this many (Telegram has
    # no idempotency key); 1 keeps it to one, at ~1/latency messages a second.
    outbox_parallel_sends: int = Field(default=1, ge=1, le=64)

    # One line an operator adds to every list of help resources (a local service).
    safety_resources: str = Field(default="", max_length=500)

    backup_dir: Path | None = None
    backup_keep: int = Field(default=7, ge=1)

    @field_validator("backup_dir", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone: {value!r}") from exc
        return value

    @field_validator("log_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.webhook_url and not (
            self.webhook_secret and self.webhook_secret.get_secret_value()
        ):
            raise ValueError("WEBHOOK_URL is set but WEBHOOK_SECRET is empty: refusing to start")
        return self

    @property
    def invite_ttl(self) -> timedelta:
        return timedelta(days=self.invite_ttl_days)

    @property
    def reminder_after(self) -> timedelta:
        return timedelta(hours=self.reminder_after_hours)

    @property
    def checkin_window(self) -> timedelta:
        return timedelta(hours=self.checkin_window_hours)
