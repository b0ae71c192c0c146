"""segmentation on a real broker: facts from Kafka -> profile and segment -> segment.changed on Kafka."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from sqlalchemy import select

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.platform.databases import fresh_database
from libs.platform.registry import load_spec
from libs.runtime.db import drop_database
from libs.runtime.settings import PlatformSettings
from libs.runtime.worker import ServiceWorker
from services.segmentation.adapters.orm import accounts

pytestmark = pytest.mark.kafka

INVOICE: dict[str, Any] = {
    "invoice_id": "I1",
    "account_id": "K1",
    "customer": {
        "customer_id": "C1",
        "name": "Pyme SAS",
        "kind": "company",
        "country": "CO",
        "timezone": "America/Bogota",
    },
    "amount": "4000000.00",
    "currency": "COP",
    "issued_on": "2025-10-01",
    "due_on": "2025-10-15",
    "product_line": "pyme",
}


def envelope(event_id: str, event_type: str, data: dict[str, Any]) -> Envelope:
    return Envelope(
        id=event_id,
        source="/test",
        type=event_type,
        time=datetime(2026, 1, 2, 15, tzinfo=UTC),
        subject="K1",
        data=data,
    )


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def database(pg_server: str) -> Iterator[str]:
    name = f"cobranza_seg_kafka_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    url = fresh_database(pg_server, [load_spec("segmentation")], name)
    yield url
    drop_database(pg_server, name)


def produce(settings: PlatformSettings, topic: str, events: list[Envelope]) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": True})
    for event in events:
        producer.produce(settings.kafka_topic_prefix + topic, key=b"K1", value=event.to_json_bytes())
    assert producer.flush(30) == 0


def segment_changes(settings: PlatformSettings, expected: int) -> list[dict[str, Any]]:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"reader-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([settings.kafka_topic_prefix + Topics.SEGMENTS])
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    try:
        while len(found) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            found.append(json.loads(message.value()))
    finally:
        consumer.close()
    return found


def test_invoice_and_aging_from_kafka_produce_segment_changes_on_kafka(database: str, kafka_settings) -> None:
    settings = kafka_settings(database)
    produce(settings, Topics.INVOICES, [envelope("k-inv", "cobranza.invoice.issued", INVOICE)])
    worker = ServiceWorker(load_spec("segmentation"), settings)
    worker.start_background()
    try:

        def segment() -> str | None:
            with worker.ctx.sessions() as session:
                return session.execute(select(accounts.c.segment)).scalar()

        wait_until(lambda: segment() == "current_good", what="the first assignment")
        aged = {
            "account_id": "K1",
            "bucket": "dpd_61_90",
            "days_past_due": 61,
            "overdue_amount": "4000000",
            "currency": "COP",
        }
        produce(settings, Topics.ACCOUNTS, [envelope("k-aged", "cobranza.account.aged", aged)])
        wait_until(lambda: segment() == "late_company", what="the late-stage segment")
        changes = segment_changes(settings, 2)
    finally:
        worker.shutdown()
    assert [(c["data"].get("previous_segment"), c["data"]["segment"]) for c in changes] == [
        (None, "current_good"),
        ("current_good", "late_company"),
    ]
    assert all(c["subject"] == "K1" for c in changes)
