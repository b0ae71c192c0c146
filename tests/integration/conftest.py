"""Real Kafka for integration tests: KAFKA_BOOTSTRAP_SERVERS when set (Apache Kafka in CI), else Tansu.

Each test gets its own topic prefix, so tests share one broker without seeing each other's records.
The migration tests' plumbing lives here too: an empty database and Alembic run as a service's role.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from confluent_kafka import Consumer, Producer

from libs.events.envelope import Envelope
from libs.platform.registry import load_spec
from libs.runtime.db import drop_database, ensure_database, make_engine, with_database
from libs.runtime.migrations import alembic_config
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


WaitUntil = Callable[..., None]


def _wait_until(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def wait_until() -> WaitUntil:
    """``wait_until(condition, timeout=60.0, what=...)``: poll until true, else fail naming ``what``."""
    return _wait_until


def _make_envelope(
    event_type: str,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
    subject: str = "A1",
    source: str = "/test",
    at: datetime | None = None,
) -> Envelope:
    return Envelope(
        id=event_id or f"evt-{uuid.uuid4().hex[:12]}",
        source=source,
        type=event_type,
        time=at or datetime.now(UTC),
        subject=subject,
        data=data,
    )


@pytest.fixture
def make_envelope() -> Callable[..., Envelope]:
    """``make_envelope(type, data, event_id=, subject="A1", source="/test", at=now)``."""
    return _make_envelope


Record = tuple[str | None, Envelope | bytes]


def _produce_records(settings: PlatformSettings, topic: str, records: list[Record]) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": True})
    for key, value in records:
        producer.produce(
            settings.kafka_topic_prefix + topic,
            key=key.encode() if key else None,
            value=value.to_json_bytes() if isinstance(value, Envelope) else value,
        )
    assert producer.flush(30) == 0


@pytest.fixture
def produce_records() -> Callable[[PlatformSettings, str, list[Record]], None]:
    """``produce_records(settings, topic, [(key, envelope_or_bytes), ...])``, flushed before it returns."""
    return _produce_records


class TopicReader:
    """Collects a topic's records (parsed JSON) from the beginning into ``seen``."""

    def __init__(self, settings: PlatformSettings, topic: str) -> None:
        self.seen: list[dict[str, Any]] = []
        self._consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka_bootstrap_servers,
                "group.id": f"test-{uuid.uuid4().hex[:6]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self._consumer.subscribe([settings.kafka_topic_prefix + topic])
        self._closed = False

    def poll(self) -> None:
        message = self._consumer.poll(0.5)
        if message is not None and message.error() is None:
            self.seen.append(json.loads(message.value() or b"{}"))

    def has(self, count: int) -> Callable[[], bool]:
        """A ``wait_until`` condition: poll once, true when ``count`` records have been seen."""

        def check() -> bool:
            self.poll()
            return len(self.seen) >= count

        return check

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._consumer.close()


@pytest.fixture
def topic_reader() -> Iterator[Callable[[PlatformSettings, str], TopicReader]]:
    """``topic_reader(settings, topic)``: a :class:`TopicReader`, closed at teardown."""
    readers: list[TopicReader] = []

    def open_reader(settings: PlatformSettings, topic: str) -> TopicReader:
        readers.append(TopicReader(settings, topic))
        return readers[-1]

    yield open_reader
    for reader in readers:
        reader.close()


@pytest.fixture
def empty_database(pg_server: str) -> Iterator[str]:
    """The URL of a database without any schema (a migration test upgrades it step by step), dropped after."""
    name = f"cobranza_mig_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    ensure_database(pg_server, name)
    yield with_database(pg_server, name)
    drop_database(pg_server, name)


Migrate = Callable[[str, str, str, str], None]


def _migrate(url: str, service: str, action: str, revision: str) -> None:
    spec = load_spec(service)
    engine = make_engine(url, service=spec.name, pool_size=1)
    try:
        cfg = alembic_config(spec)
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            getattr(command, action)(cfg, revision)
    finally:
        engine.dispose()


@pytest.fixture
def migrate() -> Migrate:
    """``migrate(url, service, "upgrade" | "downgrade", revision)``: Alembic as the service's own role
    (the owner of its schema, which a downgrade needs), in one transaction."""
    return _migrate
