"""ingest on a real broker: a file import's outbox rows reach Kafka through the running service's
relay, and an inbound contract event re-sent under a new id is forwarded once."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.platform.databases import fresh_database
from libs.platform.registry import load_spec
from libs.runtime.db import drop_database
from libs.runtime.worker import ServiceWorker
from services.ingest.service_layer.files import import_file

pytestmark = pytest.mark.kafka
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ingest"


@pytest.fixture
def database(pg_server: str) -> Iterator[str]:
    name = f"cobranza_kafka_ingest_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = fresh_database(pg_server, [load_spec("ingest")], name)
    yield url
    drop_database(pg_server, name)


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def reversal(event_id: str) -> Envelope:
    return Envelope(
        id=event_id,
        source="/core/bank",
        type="cobranza.payment.reversed",
        time=datetime.now(UTC),
        subject="A1",
        data={"payment_id": "P-9", "account_id": "A1", "reversed_on": "2026-01-06", "reason": "chargeback"},
    )


def test_file_import_and_inbound_events_reach_the_payments_topic_once(database: str, kafka_settings) -> None:
    settings = kafka_settings(database)
    ingest = ServiceWorker(load_spec("ingest"), settings)
    ingest.start_background()
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"test-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([settings.kafka_topic_prefix + Topics.PAYMENTS])
    seen: list[dict[str, Any]] = []

    def collect(count: int) -> Callable[[], bool]:
        def poll() -> bool:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                seen.append(json.loads(message.value() or b"{}"))
            return len(seen) >= count

        return poll

    try:
        summary = import_file(ingest.ctx, FIXTURES / "camt053.xml", source="bancolombia")
        assert summary.accepted == 2
        ingest.ctx.notify_committed()
        wait_until(collect(2), what="the two statement credits")
        producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
        for event_id in ("r1", "r2"):  # the bank's system re-sent the reversal under a new id
            producer.produce(
                settings.kafka_topic_prefix + Topics.INBOUND,
                key=b"A1",
                value=reversal(event_id).to_json_bytes(),
            )
        assert producer.flush(30) == 0
        wait_until(collect(3), what="the forwarded reversal")
        quiet_until = time.monotonic() + 3  # room for a wrongly forwarded second copy to show up
        while time.monotonic() < quiet_until:
            collect(99)()
    finally:
        consumer.close()
        ingest.shutdown()
    assert [e["type"] for e in seen] == [
        "cobranza.payment.received",
        "cobranza.payment.received",
        "cobranza.payment.reversed",
    ]
    assert {e["source"] for e in seen[:2]} == {"/sources/bancolombia"}
    assert seen[2]["id"] == "r1"
