"""segmentation on a real broker: facts from Kafka -> profile and segment -> segment.changed on Kafka."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.platform.registry import load_spec
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


SENT_AT = datetime(2026, 1, 2, 15, tzinfo=UTC)


def test_invoice_and_aging_from_kafka_produce_segment_changes_on_kafka(
    service_database, kafka_settings, wait_until, make_envelope, produce_records, topic_reader
) -> None:
    settings = kafka_settings(service_database(["segmentation"]))

    def event(event_id: str, event_type: str, data: dict[str, Any]) -> tuple[str, Envelope]:
        return "K1", make_envelope(event_type, data, event_id=event_id, subject="K1", at=SENT_AT)

    produce_records(settings, Topics.INVOICES, [event("k-inv", "cobranza.invoice.issued", INVOICE)])
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
        produce_records(settings, Topics.ACCOUNTS, [event("k-aged", "cobranza.account.aged", aged)])
        wait_until(lambda: segment() == "late_company", what="the late-stage segment")
        segments = topic_reader(settings, Topics.SEGMENTS)
        wait_until(segments.has(2), what="both segment.changed events")
        changes = segments.seen
    finally:
        worker.shutdown()
    assert [(c["data"].get("previous_segment"), c["data"]["segment"]) for c in changes] == [
        (None, "current_good"),
        ("current_good", "late_company"),
    ]
    assert all(c["subject"] == "K1" for c in changes)
