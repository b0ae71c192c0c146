"""notifier's settings (env prefix ``COBRANZA_NOTIFIER_``)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotifierSettings(BaseSettings):
    """Providers per channel. Unset SMTP/HTTP settings select the file-based defaults."""

    model_config = SettingsConfigDict(env_prefix="COBRANZA_NOTIFIER_", extra="ignore")

    state_dir: Path = Field(
        default=Path(".cobranza"),
        validation_alias=AliasChoices("COBRANZA_NOTIFIER_STATE_DIR", "COBRANZA_STATE_DIR"),
    )
    sender_name: str = "Cobranza"
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    mail_from: str = "cobranza@example.com"
    sms_http_url: str | None = Field(default=None, description="POST JSON {to, body, contact_id}")
    whatsapp_http_url: str | None = None
    http_token: str | None = Field(default=None, description="sent as 'Authorization: Bearer ...'")
    http_timeout_s: float = 10.0

    @property
    def root(self) -> Path:
        return self.state_dir / "notifier"


def notifier_settings() -> NotifierSettings:
    """The settings as the environment says now, built once per distinct environment (pydantic-settings
    takes milliseconds to read it, and every batch asks)."""
    return _settings_for(
        frozenset((k, v) for k, v in os.environ.items() if k.upper().startswith("COBRANZA_"))
    )


@lru_cache(maxsize=8)
def _settings_for(environment: frozenset[tuple[str, str]]) -> NotifierSettings:
    return NotifierSettings()
