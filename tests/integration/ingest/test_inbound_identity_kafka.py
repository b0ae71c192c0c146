"""ingest on a real broker: inbound events from two sources and two tenants that reuse every id
(CloudEvents ids and document ids) all come out, under canonical ids, once each; labels normalised;
customers keyed by customer id."""

from __future__ import annotations

import time
from typing import Any

import pytest

from libs.events.catalog import Topics
from libs.platform.registry import load_spec
from libs.runtime.worker import ServiceWorker

pytestmark = pytest.mark.kafka


def _invoice(account_id: str) -> dict[str, Any]:
    return {
        "invoice_id": "INV-1",
        "account_id": account_id,
        "customer": {
            "customer_id": "C1",
            "name": "Ana",
            "kind": "person",
            "country": "CO",
            "timezone": "America/Bogota",
        },
        "amount": "100.00",
        "currency": "COP",
        "issued_on": "2026-01-05",
        "due_on": "2026-01-20",
        "product_line": "auto",
    }


PAYMENT = {
    "payment_id": "PAY-1",
    "account_id": "A1",
    "amount": "50",
    "currency": "COP",
    "received_on": "2026-01-10",
    "method": "nequi",
}
CUSTOMER = {
    "customer_id": "C1",
    "account_ids": ["A1"],
    "name": "Ana",
    "kind": "person",
    "country": "CO",
    "timezone": "America/Bogota",
}


def test_reused_ids_from_two_sources_and_two_tenants_all_come_out_once(
    service_database, kafka_settings, wait_until, make_envelope, produce_records, topic_reader
) -> None:
    settings = kafka_settings(service_database(["ingest"]))
    ingest = ServiceWorker(load_spec("ingest"), settings)
    ingest.start_background()
    invoices = topic_reader(settings, Topics.INVOICES)
    payments = topic_reader(settings, Topics.PAYMENTS)
    customers = topic_reader(settings, Topics.CUSTOMERS)
    try:
        sent = [
            ("/sources/core", "t1", "A1"),
            ("/sources/billing", "t1", "A2"),  # same CloudEvents id and invoice id, other source
            ("/sources/core", "t2", "A1"),  # same everything, other tenant
            ("/sources/core", "t1", "A1"),  # a redelivery
        ]
        records = [
            (
                account,
                make_envelope(
                    "cobranza.invoice.issued",
                    _invoice(account),
                    event_id="e-1",
                    source=source,
                    subject=account,
                ).model_copy(update={"tenantid": tenant}),
            )
            for source, tenant, account in sent
        ]
        records.append(
            (
                "A1",
                make_envelope("cobranza.payment.received", PAYMENT, event_id="e-1", source="/sources/bank"),
            )
        )
        records.append(
            (
                "A1",
                make_envelope("cobranza.customer.upserted", CUSTOMER, event_id="e-1", source="/sources/crm"),
            )
        )
        produce_records(settings, Topics.INBOUND, records)
        wait_until(invoices.has(3), what="three invoices")
        wait_until(payments.has(1), what="the payment")
        wait_until(customers.has(1), what="the customer")
        quiet_until = time.monotonic() + 3  # room for a wrongly forwarded redelivery to show up
        while time.monotonic() < quiet_until:
            invoices.poll()
    finally:
        for reader in (invoices, payments, customers):
            reader.close()
        ingest.shutdown()
    assert sorted((e["tenantid"], e["source"], e["id"]) for e in invoices.seen) == [
        ("t1", "/sources/billing", "e-1"),
        ("t1", "/sources/core", "e-1"),
        ("t2", "/sources/core", "e-1"),
    ]
    minted = {(e["tenantid"], e["source"]): e["data"]["invoice_id"] for e in invoices.seen}
    # the accounts' partitions race: whichever source came first keeps the natural id
    assert {minted["t1", "/sources/core"], minted["t1", "/sources/billing"]} in (
        {"INV-1", "billing:INV-1"},
        {"core:INV-1", "INV-1"},
    )
    assert minted["t2", "/sources/core"] == "INV-1"
    [payment] = payments.seen
    assert (payment["data"]["method"], payment["data"]["method_detail"]) == ("wallet", "nequi")
    [customer] = customers.seen
    assert customer["subject"] == "C1"
