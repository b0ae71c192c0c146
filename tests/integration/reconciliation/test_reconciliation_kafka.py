"""reconciliation on a real broker: core events -> ingest -> Kafka -> reconciliation -> allocations topic."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from confluent_kafka import Producer
from sqlalchemy import select

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.platform.databases import fresh_database
from libs.platform.registry import load_spec
from libs.runtime.db import drop_database
from libs.runtime.worker import ServiceWorker
from services.reconciliation.adapters.orm import invoices

pytestmark = pytest.mark.kafka


@pytest.fixture
def database(pg_server: str) -> Iterator[str]:
    name = f"cobranza_recon_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    url = fresh_database(pg_server, [load_spec("ingest"), load_spec("reconciliation")], name)
    yield url
    drop_database(pg_server, name)


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def envelope(event_id: str, event_type: str, data: dict[str, Any]) -> bytes:
    return Envelope(
        id=event_id,
        source="/core/billing",
        type=event_type,
        time=datetime(2026, 1, 5, 15, tzinfo=UTC),
        subject="A1",
        data=data,
    ).to_json_bytes()


def test_payment_reaches_reconciliation_and_closes_the_invoice(database: str, kafka_settings) -> None:
    settings = kafka_settings(database)
    ingest = ServiceWorker(load_spec("ingest"), settings)
    recon = ServiceWorker(load_spec("reconciliation"), settings)
    ingest.start_background()
    recon.start_background()
    try:
        invoice = {
            "invoice_id": "I1",
            "account_id": "A1",
            "customer": {
                "customer_id": "C1",
                "name": "Ana",
                "kind": "person",
                "country": "CO",
                "timezone": "America/Bogota",
            },
            "amount": "100000",
            "currency": "COP",
            "issued_on": "2026-01-05",
            "due_on": "2026-01-20",
            "product_line": "auto",
        }
        payment = {
            "payment_id": "P1",
            "account_id": "A1",
            "amount": "100000",
            "currency": "COP",
            "received_on": "2026-01-10",
            "reference": "I1",
        }
        producer = Producer(
            {"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": True}
        )
        topic = settings.kafka_topic_prefix + Topics.INBOUND
        producer.produce(topic, key=b"A1", value=envelope("e-inv", "cobranza.invoice.issued", invoice))
        producer.produce(topic, key=b"A1", value=envelope("e-pay", "cobranza.payment.received", payment))
        assert producer.flush(30) == 0

        def open_amount() -> Decimal | None:
            with recon.ctx.sessions() as session:
                return session.execute(
                    select(invoices.c.open_amount).where(invoices.c.invoice_id == "I1")
                ).scalar_one_or_none()

        wait_until(lambda: open_amount() == 0, what="I1 paid in reconciliation")
        outbox = recon.ctx.spec.tables.outbox
        wait_until(
            lambda: recon.ctx.outbox_backlog() == 0,
            what="cobranza.payment.applied published",
        )
        with recon.ctx.sessions() as session:
            rows = session.execute(select(outbox.c.event_type, outbox.c.topic, outbox.c.value)).all()
        # invoices and payments travel on different topics: if the payment is seen first it becomes
        # credit and is applied when the invoice arrives (two events); either way all of it lands on I1
        assert {(r.event_type, r.topic) for r in rows} == {("cobranza.payment.applied", Topics.ALLOCATIONS)}
        allocated = sum(
            Decimal(a["amount"]) for r in rows for a in json.loads(bytes(r.value))["data"]["allocations"]
        )
        assert allocated == Decimal("100000")
    finally:
        ingest.shutdown()
        recon.shutdown()
