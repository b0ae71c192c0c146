"""reconciliation on a real broker: core events -> ingest -> Kafka -> reconciliation -> allocations topic."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from libs.events.catalog import Topics
from libs.platform.registry import load_spec
from libs.runtime.worker import ServiceWorker
from services.reconciliation.adapters.orm import invoices

pytestmark = pytest.mark.kafka


BILLED_AT = datetime(2026, 1, 5, 15, tzinfo=UTC)


def test_payment_reaches_reconciliation_and_closes_the_invoice(
    service_database, kafka_settings, wait_until, make_envelope, produce_records
) -> None:
    settings = kafka_settings(service_database(["ingest", "reconciliation"]))
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
        events = [
            ("e-inv", "cobranza.invoice.issued", invoice),
            ("e-pay", "cobranza.payment.received", payment),
        ]
        produce_records(
            settings,
            Topics.INBOUND,
            [
                ("A1", make_envelope(kind, data, event_id=event_id, source="/core/billing", at=BILLED_AT))
                for event_id, kind, data in events
            ],
        )

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
