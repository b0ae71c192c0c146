"""Platform-wide settings (pydantic-settings). Each service extends these with its own prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PlatformSettings(BaseSettings):
    """Where Postgres and Kafka are, and how the runtime behaves.

    ``DATABASE_URL`` and ``KAFKA_BOOTSTRAP_SERVERS`` unset means "start the
    embedded ones" (``cobranza up``); a service process on its own needs both.
    """

    model_config = SettingsConfigDict(env_prefix="COBRANZA_", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "COBRANZA_DATABASE_URL")
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "COBRANZA_KAFKA_BOOTSTRAP_SERVERS"),
    )
    kafka_topic_prefix: str = Field(
        default="",
        description="prepended to every catalog topic on the broker: namespaces on a shared cluster",
    )
    kafka_session_timeout_ms: int = 6000
    kafka_assignment_strategy: str = "cooperative-sticky"
    kafka_batch_size: int = 500
    kafka_poll_timeout_s: float = 0.5
    kafka_lag_interval_s: float = Field(
        default=5.0, description="how often consumer lag is measured (committed offsets vs high watermarks)"
    )
    handler_max_attempts: int = 3
    handler_retry_backoff_s: float = Field(
        default=0.05, description="first wait between handler attempts; doubles each attempt"
    )
    handler_retry_backoff_max_s: float = Field(default=2.0, description="longest wait between attempts")
    consumer_max_restarts: int = Field(
        default=5, description="consumer loop restarts within the window before the service is not live"
    )
    consumer_restart_window_s: float = 300.0
    consumer_restart_backoff_s: float = Field(default=0.5, description="first wait before a restart")
    consumer_max_commit_failures: int = Field(
        default=5, description="offset commits failing in a row before the consumer loop is restarted"
    )
    relay_max_attempts: int = Field(
        default=10, description="failed deliveries of one outbox row (the broker answering) before parking"
    )
    relay_batch_size: int = 500
    relay_interval_s: float = 0.2
    outbox_retention_days: int = 7
    republish_on_start: bool = Field(
        default=False,
        description="on `cobranza up`, publish the retained outboxes again even on an external broker "
        "(always done on the embedded one, which forgets its log)",
    )
    timer_poll_interval_s: float = 1.0
    tenant: str = "default"
    state_dir: Path = Path(".cobranza")
    log_level: str = "INFO"
    log_json: bool = True
    otel_exporter: str = Field(default="none", description="none | console | otlp")
    environment: str = "embedded"


def sqlalchemy_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and select the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url!r} (cobranza speaks one SQL dialect: PostgreSQL)")
