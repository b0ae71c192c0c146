"""reconciliation on a real broker: core events -> ingest -> Kafka -> reconciliation -> allocations topic."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from libs.events.catalog import Topics
from libs.platform.registry import load_spec
from libs.runtime.worker import ServiceWorker
from services.reconciliation.adapters.orm import credits, invoices, payments

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
        # invoices and payments travel on different topics: if the payment is seen first its account is
        # still unknown, so it waits in suspense (payment.unapplied) and is placed when the invoice
        # arrives (payment.applied); either way all of it lands on I1, and never as phantom credit
        kinds = {(r.event_type, r.topic) for r in rows}
        assert ("cobranza.payment.applied", Topics.ALLOCATIONS) in kinds
        assert kinds <= {
            ("cobranza.payment.applied", Topics.ALLOCATIONS),
            ("cobranza.payment.unapplied", Topics.ALLOCATIONS),
        }
        allocated = sum(
            Decimal(a["amount"])
            for r in rows
            for a in json.loads(bytes(r.value))["data"].get("allocations", [])
        )
        assert allocated == Decimal("100000")
    finally:
        ingest.shutdown()
        recon.shutdown()


def test_suspense_is_placed_when_the_account_becomes_known_across_topics(
    service_database, kafka_settings, wait_until, make_envelope, produce_records
) -> None:
    """Payments topic first (an account nobody knows yet, in two tenants), then the customers
    topic: only the linked tenant's payment leaves suspense, as credit on its account."""
    settings = kafka_settings(service_database(["reconciliation"]))
    recon = ServiceWorker(load_spec("reconciliation"), settings)
    recon.start_background()
    try:

        def envelope(kind: str, data: dict[str, Any], event_id: str, tenant: str, subject: str):  # type: ignore[no-untyped-def]
            built = make_envelope(
                kind, data, event_id=event_id, subject=subject, source="/cobranza/ingest", at=BILLED_AT
            )
            return built.model_copy(update={"tenantid": tenant})

        payment = {
            "payment_id": "P1",
            "account_id": "A9",
            "amount": "70",
            "currency": "COP",
            "received_on": "2026-01-10",
        }
        produce_records(
            settings,
            Topics.PAYMENTS,
            [
                ("A9", envelope("cobranza.payment.received", payment, "e1", t, "A9"))
                for t in ("acme", "globex")
            ],
        )

        def statuses() -> dict[str, str]:
            with recon.ctx.sessions() as session:
                rows = session.execute(select(payments.c.tenant_id, payments.c.status)).all()
            return {r.tenant_id: r.status for r in rows}

        wait_until(
            lambda: statuses() == {"acme": "suspense", "globex": "suspense"}, what="both payments parked"
        )
        link = {
            "customer_id": "C9",
            "account_ids": ["A9"],
            "name": "Ana",
            "kind": "person",
            "country": "CO",
            "timezone": "America/Bogota",
        }
        produce_records(
            settings,
            Topics.CUSTOMERS,
            [("C9", envelope("cobranza.customer.upserted", link, "e2", "acme", "C9"))],
        )
        wait_until(
            lambda: statuses() == {"acme": "applied", "globex": "suspense"}, what="acme's payment placed"
        )
        with recon.ctx.sessions() as session:
            credit = session.execute(
                select(credits.c.tenant_id, credits.c.amount).where(credits.c.account_id == "A9")
            ).all()
        assert [(c.tenant_id, c.amount) for c in credit] == [("acme", Decimal("70"))]
    finally:
        recon.shutdown()
