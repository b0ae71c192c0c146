"""ingest on a real broker: a file import's outbox rows reach Kafka through the running service's
relay, and an inbound contract event re-sent under a new id is forwarded once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from libs.events.catalog import Topics
from libs.platform.registry import load_spec
from libs.runtime.worker import ServiceWorker
from services.ingest.service_layer.files import import_file

pytestmark = pytest.mark.kafka
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ingest"


REVERSAL = {"payment_id": "P-9", "account_id": "A1", "reversed_on": "2026-01-06", "reason": "chargeback"}


def test_file_import_and_inbound_events_reach_the_payments_topic_once(
    service_database, kafka_settings, wait_until, make_envelope, produce_records, topic_reader
) -> None:
    settings = kafka_settings(service_database(["ingest"]))
    ingest = ServiceWorker(load_spec("ingest"), settings)
    ingest.start_background()
    payments = topic_reader(settings, Topics.PAYMENTS)
    try:
        summary = import_file(ingest.ctx, FIXTURES / "camt053.xml", source="bancolombia")
        assert summary.accepted == 2
        ingest.ctx.notify_committed()
        wait_until(payments.has(2), what="the two statement credits")
        # the bank's system re-sent the reversal under a new id
        reversals = [
            make_envelope("cobranza.payment.reversed", REVERSAL, event_id=event_id, source="/core/bank")
            for event_id in ("r1", "r2")
        ]
        produce_records(settings, Topics.INBOUND, [("A1", reversal) for reversal in reversals])
        wait_until(payments.has(3), what="the forwarded reversal")
        quiet_until = time.monotonic() + 3  # room for a wrongly forwarded second copy to show up
        while time.monotonic() < quiet_until:
            payments.poll()
    finally:
        payments.close()
        ingest.shutdown()
    assert [e["type"] for e in payments.seen] == [
        "cobranza.payment.received",
        "cobranza.payment.received",
        "cobranza.payment.reversed",
    ]
    assert {e["source"] for e in payments.seen[:2]} == {"/sources/bancolombia"}
    assert payments.seen[2]["id"] == "r1"
