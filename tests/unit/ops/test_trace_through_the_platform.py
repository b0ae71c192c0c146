"""A request's trace travels in the events: ingest's REST call continues the caller's ``traceparent``,
every event it emits carries that trace (the envelope's ``traceparent`` extension), and consumers
continue it: a batch span continues its first event's trace, and each emitted event stays in its
cause's trace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opentelemetry.trace import SpanKind

from tests.support.auth import api_client

ROOT = Path(__file__).resolve().parents[3]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"

INVOICE = {
    "invoice_id": "I1",
    "account_id": "A1",
    "customer": {"customer_id": "C1", "name": "Ana", "phone": "+57 300 123 4567"},
    "amount": "100000.00",
    "currency": "COP",
    "issued_on": "2026-01-05",
    "due_on": "2026-01-20",
    "product_line": "auto",
}


def test_ingest_events_carry_the_requests_trace(make_platform, spans) -> None:
    platform = make_platform(["ingest", "aging"])
    client = api_client(platform.context("ingest"), role="ingest", source="core")

    response = client.post("/v1/invoices", json=INVOICE, headers={"traceparent": TRACEPARENT})
    assert response.status_code in (200, 201, 202), response.text
    platform.run_until_quiet()

    emitted = [json.loads(p.record.value) for p in platform.broker.log]
    ingested = [e for e in emitted if e["type"] == "cobranza.invoice.issued"]
    assert ingested, emitted
    assert all(e["traceparent"].split("-")[1] == TRACE_ID for e in ingested)
    server = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert server and format(server[0].context.trace_id, "032x") == TRACE_ID
    consumed = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    assert consumed, "aging handled the invoice in a span"
    linked = {format(link.context.trace_id, "032x") for s in consumed for link in s.links} | {
        format(s.context.trace_id, "032x") for s in consumed
    }
    assert TRACE_ID in linked


def _handled_with_a_trace(make_platform, spans) -> list[Any]:  # type: ignore[no-untyped-def]
    """aging handles an invoice whose envelope carries TRACEPARENT: its consumer spans."""
    from libs.events.catalog import Topics
    from libs.events.envelope import Envelope

    platform = make_platform(["aging"])
    fixture = json.loads((ROOT / "tests/contract/fixtures/cobranza.invoice.issued.v1.json").read_text())
    envelope = Envelope.model_validate(fixture).model_copy(update={"traceparent": TRACEPARENT})
    platform.publish(envelope, Topics.INVOICES)
    platform.run_until_quiet()

    consumed = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    assert consumed
    return consumed


def test_a_consumer_links_the_trace_of_the_event_it_handles(make_platform, spans) -> None:
    consumed = _handled_with_a_trace(make_platform, spans)
    linked = {format(link.context.trace_id, "032x") for s in consumed for link in s.links}
    assert TRACE_ID in linked  # a batch span links every event's trace it handled


def test_a_batch_consumer_stays_in_the_trace_of_the_event_it_handles(make_platform, spans) -> None:
    consumed = _handled_with_a_trace(make_platform, spans)
    assert TRACE_ID in {format(s.context.trace_id, "032x") for s in consumed}


def test_each_event_a_batch_emits_stays_in_its_causes_trace(make_platform, spans) -> None:
    """Two payments of two traces in one batch: what reconciliation emits for each carries its own."""
    from libs.events.catalog import Topics
    from libs.events.envelope import Envelope

    platform = make_platform(["reconciliation"])
    fixture = json.loads((ROOT / "tests/contract/fixtures/cobranza.payment.received.v1.json").read_text())
    traces = {"A1": TRACE_ID, "A2": "0af7651916cd43dd8448eb211c80319c"}
    for account, trace_id in traces.items():
        data = dict(fixture["data"], account_id=account, payment_id=f"PAY-{account}")
        envelope = Envelope.model_validate(
            dict(fixture, id=f"pay-{account}", subject=account, data=data)
        ).model_copy(update={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
        platform.publish(envelope, Topics.PAYMENTS)
    platform.run_until_quiet()

    emitted = [json.loads(p.record.value) for p in platform.broker.log]
    by_payment = {
        e["data"]["payment_id"]: e["traceparent"].split("-")[1]
        for e in emitted
        if e["source"] == "/cobranza/reconciliation" and e.get("traceparent")
    }
    assert by_payment == {f"PAY-{account}": trace_id for account, trace_id in traces.items()}
