"""aging on a real broker: an overdue invoice and a payment allocation in, bucket changes out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from libs.events.catalog import Topics
from libs.platform.registry import load_spec
from libs.runtime.worker import ServiceWorker
from services.aging.adapters.orm import account_state

pytestmark = pytest.mark.kafka


def test_overdue_invoice_ages_and_allocation_brings_it_back_to_current(
    service_database, kafka_settings, wait_until, make_envelope, produce_records, topic_reader
) -> None:
    settings = kafka_settings(service_database(["ingest", "aging"]))
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
    accounts = topic_reader(settings, Topics.ACCOUNTS)
    try:
        produce_records(
            settings, Topics.INVOICES, [("A1", make_envelope("cobranza.invoice.issued", invoice))]
        )
        wait_until(accounts.has(1), what="the account.aged event for the overdue invoice")
        produce_records(
            settings, Topics.ALLOCATIONS, [("A1", make_envelope("cobranza.payment.applied", applied))]
        )
        wait_until(accounts.has(2), what="the account.aged event back to current")
    finally:
        accounts.close()
        aging.shutdown()
    assert [(e["data"]["previous_bucket"], e["data"]["bucket"]) for e in accounts.seen] == [
        ("current", "dpd_31_60"),
        ("dpd_31_60", "current"),
    ]
    with aging.ctx.sessions() as session:
        assert session.execute(select(account_state.c.bucket)).scalar_one() == "current"
