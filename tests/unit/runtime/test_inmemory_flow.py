"""The runtime on the in-memory transport: forwarding, dead letters, idempotent redelivery."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import func, select

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from services.aging.adapters.orm import invoices

INVOICE = {
    "invoice_id": "I1",
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
    "issued_on": "2026-01-05",
    "due_on": "2026-01-20",
    "product_line": "auto",
}


def envelope(event_id: str, data: Mapping[str, object]) -> Envelope:
    return Envelope(
        id=event_id,
        source="/core/policy",
        type="cobranza.invoice.issued",
        time=datetime(2026, 1, 5, 15, tzinfo=UTC),
        subject="A1",
        data=dict(data),
    )


def test_inbound_invoice_reaches_aging_once_even_when_redelivered(make_platform) -> None:
    platform = make_platform(["ingest", "aging"])
    platform.publish(envelope("e1", INVOICE), Topics.INBOUND)
    platform.publish(envelope("e1", INVOICE), Topics.INBOUND)  # the core system retried
    platform.run_until_quiet()

    aging = platform.context("aging")
    with aging.sessions() as session:
        assert session.execute(select(func.count()).select_from(invoices)).scalar_one() == 1
    forwarded = [p for p in platform.broker.topics[Topics.INVOICES]]
    assert len(forwarded) == 1
    assert json.loads(forwarded[0].record.value or b"")["id"] == "e1"


def test_malformed_event_is_dead_lettered_with_field_paths_and_the_stream_goes_on(make_platform) -> None:
    platform = make_platform(["ingest", "aging"])
    bad = dict(INVOICE, amount=1.5)
    del bad["currency"]
    platform.publish(envelope("bad", bad), Topics.INBOUND)
    platform.broker.append(Topics.INBOUND, "A1", b"{not json")
    platform.publish(envelope("good", dict(INVOICE, invoice_id="I2")), Topics.INBOUND)
    platform.run_until_quiet()

    letters = platform.broker.topics[Topics.DEAD_LETTER]
    assert len(letters) == 2  # (letters are independent: the topic promises no order between them)
    by_id = {p.headers.get("dlq_event_id"): p for p in letters}
    assert "data.amount" in by_id["bad"].headers["dlq_reason"]
    assert "data.currency" in by_id["bad"].headers["dlq_reason"]
    assert by_id[None].record.value == b"{not json"
    with platform.context("aging").sessions() as session:
        ids = session.execute(select(invoices.c.invoice_id)).scalars().all()
    assert ids == ["I2"]


def test_a_failing_handler_dead_letters_only_its_event_and_the_batch_commits_the_rest(make_platform) -> None:
    """Fast path fails on the middle event, the batch is redone per event: neighbours land exactly once."""
    platform = make_platform(["aging"])
    adjusted = Envelope(
        id="adj-unknown",
        source="/core/policy",
        type="cobranza.invoice.adjusted",
        time=datetime(2026, 1, 6, 15, tzinfo=UTC),
        subject="A1",
        data={
            "adjustment_id": "ADJ-1",
            "invoice_id": "NOPE",
            "account_id": "A1",
            "new_amount": "10.00",
            "currency": "COP",
            "reason": "credit_note",
            "effective_on": "2026-01-06",
        },
    )
    for env in (envelope("e1", INVOICE), adjusted, envelope("e2", dict(INVOICE, invoice_id="I2"))):
        platform.publish(env, Topics.INVOICES)
    platform.run_until_quiet()

    result = platform.results[0]
    assert (result.processed, result.dead_lettered) == (2, 1)
    letters = platform.broker.topics[Topics.DEAD_LETTER]
    assert [p.headers["dlq_event_id"] for p in letters] == ["adj-unknown"]
    assert letters[0].headers["dlq_kind"] == "handler_failed"
    with platform.context("aging").sessions() as session:
        assert sorted(session.execute(select(invoices.c.invoice_id)).scalars()) == ["I1", "I2"]
        inbox = platform.context("aging").spec.tables.inbox
        assert sorted(session.execute(select(inbox.c.event_id)).scalars()) == ["e1", "e2"]
