"""Bank statements on a real broker: a day's credits and the next day's direct-debit return
reach the payments topic through the relay, the reversal after its payment (one key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from libs.events.catalog import Topics
from libs.platform.registry import load_spec
from libs.runtime.worker import ServiceWorker
from services.ingest.service_layer.files import import_file

pytestmark = pytest.mark.kafka
STATEMENTS = Path(__file__).resolve().parents[2] / "fixtures" / "ingest" / "statements"


def test_statement_return_is_published_after_its_payment(
    service_database, kafka_settings, wait_until, topic_reader
) -> None:  # type: ignore[no-untyped-def]
    settings = kafka_settings(service_database(["ingest"]))
    ingest = ServiceWorker(load_spec("ingest"), settings)
    ingest.start_background()
    payments = topic_reader(settings, Topics.PAYMENTS)
    try:
        day1 = import_file(
            ingest.ctx, STATEMENTS / "mt940_startumse_day1.sta", source="banco", keep_results=True
        )
        day2 = import_file(
            ingest.ctx, STATEMENTS / "mt940_startumse_day2.sta", source="banco", keep_results=True
        )
        ingest.ctx.notify_committed()
        assert (day1.accepted, day2.accepted) == (3, 2)
        wait_until(payments.has(5), what="three credits, the next day's credit and the return")
    finally:
        payments.close()
        ingest.shutdown()
    collected = day1.results[1].id
    kinds = [(e["type"], e["data"]["payment_id"]) for e in payments.seen]
    assert len(kinds) == 5 and len(set(kinds)) == 5
    received_at = kinds.index(("cobranza.payment.received", collected))
    reversed_at = kinds.index(("cobranza.payment.reversed", collected))
    assert received_at < reversed_at
    assert {e["subject"] for e in payments.seen if e["data"]["payment_id"] == collected} == {
        f"unidentified:{collected}"
    }
