"""aging on a real broker: an overdue invoice and a payment allocation in, bucket changes out."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
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
from services.aging.adapters.orm import account_state

pytestmark = pytest.mark.kafka


@pytest.fixture
def database(pg_server: str) -> Iterator[str]:
    name = f"cobranza_kafka_aging_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = fresh_database(pg_server, [load_spec("aging")], name)
    yield url
    drop_database(pg_server, name)


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def envelope(event_type: str, data: dict[str, Any]) -> Envelope:
    return Envelope(
        id=f"evt-{uuid.uuid4().hex[:12]}",
        source="/test",
        type=event_type,
        time=datetime.now(UTC),
        subject="A1",
        data=data,
    )


def produce(settings: PlatformSettings, topic: str, env: Envelope) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
    producer.produce(settings.kafka_topic_prefix + topic, key=b"A1", value=env.to_json_bytes())
    assert producer.flush(30) == 0


def test_overdue_invoice_ages_and_allocation_brings_it_back_to_current(database: str, kafka_settings) -> None:
    settings = kafka_settings(database)
    due = (datetime.now(UTC) - timedelta(days=45)).date()
    invoice: dict[str, Any] = {
        "invoice_id": "INV-K1",
        "account_id": "A1",
        "customer": {
            "customer_id": "C1",
            "name": "Ana",
            "kind": "person",
            "country": "CO",
            "timezone": "America/Bogota",
        },
        "amount": "100000.00",
        "currency": "COP",
        "issued_on": (due - timedelta(days=15)).isoformat(),
        "due_on": due.isoformat(),
        "product_line": "cumplimiento",
    }
    applied: dict[str, Any] = {
        "payment_id": "PAY-K1",
        "account_id": "A1",
        "currency": "COP",
        "amount_applied": "100000.00",
        "allocations": [{"invoice_id": "INV-K1", "amount": "100000.00", "invoice_open_amount_after": "0"}],
        "credit_balance_after": "0",
        "rule": "reference",
        "applied_on": datetime.now(UTC).date().isoformat(),
    }
    aging = ServiceWorker(load_spec("aging"), settings)
    aging.start_background()
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"test-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([settings.kafka_topic_prefix + Topics.ACCOUNTS])
    seen: list[dict[str, Any]] = []

    def collect(count: int) -> Callable[[], bool]:
        def poll() -> bool:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                seen.append(json.loads(message.value() or b"{}"))
            return len(seen) >= count

        return poll

    try:
        produce(settings, Topics.INVOICES, envelope("cobranza.invoice.issued", invoice))
        wait_until(collect(1), what="the account.aged event for the overdue invoice")
        produce(settings, Topics.ALLOCATIONS, envelope("cobranza.payment.applied", applied))
        wait_until(collect(2), what="the account.aged event back to current")
    finally:
        consumer.close()
        aging.shutdown()
    assert [(e["data"]["previous_bucket"], e["data"]["bucket"]) for e in seen] == [
        ("current", "dpd_31_60"),
        ("dpd_31_60", "current"),
    ]
    with aging.ctx.sessions() as session:
        assert session.execute(select(account_state.c.bucket)).scalar_one() == "current"
