"""Real Kafka for integration tests: KAFKA_BOOTSTRAP_SERVERS when set (Apache Kafka in CI), else Tansu.

Each test gets its own topic prefix, so tests share one broker without seeing each other's records.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from libs.runtime.settings import PlatformSettings
from libs.runtime.transport.kafka import ensure_topics


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if bootstrap:
        yield bootstrap
        return
    from libs.platform.embedded import EmbeddedKafka

    broker = EmbeddedKafka(Path(tempfile.mkdtemp(prefix="cobranza-tansu-")) / "tansu.log")
    yield broker.start()
    broker.stop()


SettingsFactory = Callable[[str], PlatformSettings]


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> SettingsFactory:
    """``kafka_settings(database_url)``: settings on the test broker under a fresh topic prefix."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    ensure_topics(kafka_bootstrap, prefix=prefix)

    def build(database_url: str) -> PlatformSettings:
        return PlatformSettings(
            database_url=database_url,
            kafka_bootstrap_servers=kafka_bootstrap,
            kafka_topic_prefix=prefix,
            kafka_session_timeout_ms=6000,
            relay_interval_s=0.05,
            log_json=False,
        )

    return build
