"""The inbound topic: contract events from core systems, de-duplicated per (tenant, source) by natural key,
forwarded under the canonical ids of each source's documents, keyed by the contract's subject."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.runtime.transport.memory import InMemoryPlatform


def inbound(
    event_type: str,
    data: dict[str, Any],
    *,
    event_id: str,
    source: str = "/core/policy",
    tenant: str = "default",
    subject: str | None = "A1",
) -> Envelope:
    return Envelope(
        id=event_id,
        source=source,
        type=event_type,
        time=datetime(2026, 1, 9, tzinfo=UTC),
        subject=subject,
        tenantid=tenant,
        data=data,
    )


def cancellation(event_id: str, source: str = "/core/policy", tenant: str = "default") -> Envelope:
    data = {
        "invoice_id": "I1",
        "account_id": "A1",
        "reason": "policy_cancelled",
        "cancelled_on": "2026-01-09",
    }
    return inbound("cobranza.invoice.cancelled", data, event_id=event_id, source=source, tenant=tenant)


def invoice(invoice_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "invoice_id": invoice_id,
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
        **changes,
    }


def payment(payment_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "account_id": "A1",
        "amount": "50000",
        "currency": "COP",
        "received_on": "2026-01-10",
        **changes,
    }


def forwarded(platform: InMemoryPlatform, topic: str) -> list[tuple[str | None, Envelope]]:
    """(record key, envelope) of everything on ``topic``."""
    return [
        (p.record.key.decode() if p.record.key else None, Envelope.from_json(p.record.value or b""))
        for p in platform.broker.topics.get(topic, [])
    ]


def dead_letters(platform: InMemoryPlatform) -> list[str]:
    """The reason header of each dead-lettered record."""
    return [
        _text(dict(p.record.headers)["dlq_reason"])
        for p in platform.broker.topics.get(Topics.DEAD_LETTER, [])
    ]


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


@pytest.fixture
def platform(make_platform) -> InMemoryPlatform:  # type: ignore[no-untyped-def]
    built: InMemoryPlatform = make_platform(["ingest"])
    return built


def test_a_cancellation_sent_twice_under_new_event_ids_is_forwarded_once(platform: InMemoryPlatform) -> None:
    platform.publish(cancellation("e1"), Topics.INBOUND)
    platform.publish(cancellation("e2"), Topics.INBOUND)  # the core system re-sent it with a new id
    platform.publish(cancellation("e3", source="/core/billing"), Topics.INBOUND)  # another source
    platform.run_until_quiet()
    assert [e.id for _, e in forwarded(platform, Topics.INVOICES)] == ["e1", "e3"]


def test_the_same_event_id_from_two_sources_or_two_tenants_is_two_events(platform: InMemoryPlatform) -> None:
    platform.publish(inbound("cobranza.payment.received", payment("P1"), event_id="1"), Topics.INBOUND)
    platform.publish(
        inbound("cobranza.payment.received", payment("P1"), event_id="1", source="/bank/x"), Topics.INBOUND
    )
    platform.publish(
        inbound("cobranza.payment.received", payment("P1"), event_id="1", tenant="banco"), Topics.INBOUND
    )
    platform.publish(
        inbound("cobranza.payment.received", payment("P1"), event_id="1"), Topics.INBOUND
    )  # redelivery
    platform.run_until_quiet()
    events = [e for _, e in forwarded(platform, Topics.PAYMENTS)]
    assert [(e.source, e.tenantid, e.id) for e in events] == [
        ("/core/policy", "default", "1"),
        ("/bank/x", "default", "1"),
        ("/core/policy", "banco", "1"),
    ]
    assert [e.data["payment_id"] for e in events] == ["P1", "/bank/x:P1", "P1"]


def test_two_sources_reusing_a_document_id_get_canonical_ids_and_their_own_follow_ups(
    platform: InMemoryPlatform,
) -> None:
    for source, account in (("/sources/core", "A1"), ("/sources/billing", "A2")):
        data = invoice("INV-1", account_id=account)
        platform.publish(
            inbound("cobranza.invoice.issued", data, event_id=f"{source}-i", source=source), Topics.INBOUND
        )
    adjusted = {
        "adjustment_id": "ADJ-1",
        "invoice_id": "INV-1",
        "account_id": "A2",
        "new_amount": "10",
        "currency": "COP",
        "reason": "endoso",
        "effective_on": "2026-01-09",
    }
    platform.publish(
        inbound("cobranza.invoice.adjusted", adjusted, event_id="adj", source="/sources/billing"),
        Topics.INBOUND,
    )
    platform.run_until_quiet()
    events = [e for _, e in forwarded(platform, Topics.INVOICES)]
    assert [(e.type, e.data["invoice_id"]) for e in events] == [
        ("cobranza.invoice.issued", "INV-1"),
        ("cobranza.invoice.issued", "billing:INV-1"),
        ("cobranza.invoice.adjusted", "billing:INV-1"),
    ]
    assert (events[2].data["reason"], events[2].data["reason_detail"]) == ("endorsement", "endoso")


def test_a_reversal_over_kafka_resolves_the_source_payment_and_its_account(
    platform: InMemoryPlatform,
) -> None:
    platform.publish(inbound("cobranza.payment.received", payment("P1"), event_id="p"), Topics.INBOUND)
    reversal = {"payment_id": "P1", "reversed_on": "2026-01-11", "reason": "contracargo"}
    platform.publish(
        inbound("cobranza.payment.reversed", reversal, event_id="r", subject=None), Topics.INBOUND
    )
    platform.run_until_quiet()
    key, event = forwarded(platform, Topics.PAYMENTS)[1]
    assert (event.data["account_id"], event.data["reason"], event.data["reason_detail"]) == (
        "A1",
        "chargeback",
        "contracargo",
    )
    assert key == "A1" and event.subject == "A1"


def test_payment_labels_over_kafka_are_normalised_not_dead_lettered(platform: InMemoryPlatform) -> None:
    for index, label in enumerate(["nequi", "Transferencia", "bitcoin"]):
        data = payment(f"P{index}", method=label)
        platform.publish(inbound("cobranza.payment.received", data, event_id=f"p{index}"), Topics.INBOUND)
    platform.run_until_quiet()
    events = [e for _, e in forwarded(platform, Topics.PAYMENTS)]
    assert [(e.data["method"], e.data["method_detail"]) for e in events] == [
        ("wallet", "nequi"),
        ("bank_transfer", "Transferencia"),
        ("other", "bitcoin"),
    ]
    assert dead_letters(platform) == []


def test_customer_upserted_is_forwarded_keyed_by_customer_id(platform: InMemoryPlatform) -> None:
    customer = {
        "customer_id": "C1",
        "account_ids": ["A1", "A2"],
        "name": "Ana",
        "kind": "person",
        "country": "CO",
        "timezone": "America/Bogota",
    }
    platform.publish(
        inbound("cobranza.customer.upserted", customer, event_id="c1", subject="A1"), Topics.INBOUND
    )
    platform.run_until_quiet()
    [(key, event)] = forwarded(platform, Topics.CUSTOMERS)
    assert (key, event.subject) == ("C1", "C1")
    assert event.data["account_ids"] == ["A1", "A2"]


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (payment("P\x00"), "data.payment_id"),
        (payment("P1", amount="1e30"), "data.amount"),
        (payment("P1", amount="1.00001"), "data.amount"),
        (payment("P1", payer_name="A\x1b"), "data.payer_name"),
    ],
)
def test_bad_input_over_kafka_is_dead_lettered_with_its_path_never_forwarded(
    platform: InMemoryPlatform, data: dict[str, Any], path: str
) -> None:
    raw = inbound("cobranza.payment.received", {}, event_id="bad").model_dump(mode="json")
    raw["data"] = data
    platform.broker.append(Topics.INBOUND, "A1", json.dumps(raw).encode(), {})
    platform.run_until_quiet()
    assert forwarded(platform, Topics.PAYMENTS) == []
    [reason] = dead_letters(platform)
    assert reason.startswith(f"InvalidEvent: {path}:")


def test_customers_over_kafka_get_canonical_ids_and_links_as_on_rest(platform: InMemoryPlatform) -> None:
    def customer(phone: str, document_id: str) -> dict[str, Any]:
        return {
            "customer_id": "C1",
            "account_ids": ["A1"],
            "name": "Ana",
            "kind": "person",
            "country": "CO",
            "timezone": "America/Bogota",
            "phone": phone,
            "document_id": document_id,
        }

    sends = [
        ("/sources/core", customer("+573001234567", "CC-1")),
        ("/sources/billing", customer("+573109999999", "CC-2")),  # another person reusing C1
        ("/sources/crm", customer("+573001234567", "CC-1")),  # the core's C1 again, linked by document
    ]
    for index, (source, data) in enumerate(sends):
        event = inbound("cobranza.customer.upserted", data, event_id=f"c{index}", source=source)
        platform.publish(event, Topics.INBOUND)
    debtor = invoice("INV-9")
    debtor["customer"] = {**debtor["customer"], "phone": "+573109999999", "document_id": "CC-2"}
    platform.publish(
        inbound("cobranza.invoice.issued", debtor, event_id="i9", source="/sources/billing"), Topics.INBOUND
    )
    platform.run_until_quiet()
    customers = [e for _, e in forwarded(platform, Topics.CUSTOMERS)]
    assert [(e.data["customer_id"], e.data.get("link_rule")) for e in customers] == [
        ("C1", None),
        ("billing:C1", None),
        ("C1", "document_id"),
    ]
    assert [key for key, _ in forwarded(platform, Topics.CUSTOMERS)] == ["C1", "billing:C1", "C1"]
    [(_, issued)] = forwarded(platform, Topics.INVOICES)
    assert issued.data["customer"]["customer_id"] == "billing:C1"


def test_a_minted_invoice_id_over_kafka_keeps_the_source_own_id_as_natural_id(
    platform: InMemoryPlatform,
) -> None:
    for source in ("/sources/core", "/sources/billing"):
        platform.publish(
            inbound("cobranza.invoice.issued", invoice("INV-1"), event_id=f"{source}-i", source=source),
            Topics.INBOUND,
        )
    platform.run_until_quiet()
    issued = [e.data for _, e in forwarded(platform, Topics.INVOICES)]
    assert [(d["invoice_id"], d.get("natural_id")) for d in issued] == [
        ("INV-1", None),
        ("billing:INV-1", "INV-1"),
    ]


def _mixed_stream() -> list[Envelope]:
    """Every kind, two sources, re-sends, a follow-up before and after its document, a bad event."""
    billing = "/sources/billing"
    adjusted = {
        "adjustment_id": "ADJ-1",
        "invoice_id": "INV-1",
        "account_id": "A1",
        "new_amount": "10",
        "currency": "COP",
        "reason": "endoso",
        "effective_on": "2026-01-09",
    }
    reversed_ = {"payment_id": "P1", "reversed_on": "2026-01-11", "reason": "fondos insuficientes"}
    customer = {
        "customer_id": "C1",
        "name": "Ana",
        "kind": "person",
        "country": "CO",
        "timezone": "America/Bogota",
        "document_id": "900123",
        "account_ids": ["A1"],
    }
    return [
        inbound("cobranza.invoice.adjusted", adjusted, event_id="adj-early"),  # before its invoice
        inbound("cobranza.customer.upserted", customer, event_id="c1", subject="C1"),
        inbound("cobranza.invoice.issued", invoice("INV-1"), event_id="i1"),
        inbound(
            "cobranza.customer.upserted", {**customer, "customer_id": "B-7"}, event_id="c2", source=billing
        ),
        inbound("cobranza.invoice.issued", invoice("INV-1", account_id="A2"), event_id="i2", source=billing),
        inbound("cobranza.payment.received", payment("P1"), event_id="p1"),
        inbound("cobranza.payment.received", payment("P1"), event_id="p1-resent"),
        inbound("cobranza.invoice.issued", invoice("INV-2", amount="-1"), event_id="bad"),
        inbound("cobranza.invoice.adjusted", adjusted, event_id="adj"),
        inbound(
            "cobranza.invoice.adjusted", {**adjusted, "account_id": "A2"}, event_id="adj-b", source=billing
        ),
        inbound("cobranza.payment.reversed", reversed_, event_id="r1"),
        inbound(
            "cobranza.invoice.cancelled",
            {**adjusted, "reason": "x", "cancelled_on": "2026-01-12"},
            event_id="x",
        ),
        inbound("cobranza.invoice.issued", invoice("INV-1"), event_id="i1-resent"),
        inbound("cobranza.invoice.cancelled", cancellation("k").data, event_id="k"),
    ]


def test_inbound_batches_forward_what_one_event_at_a_time_forwards(make_platform) -> None:  # type: ignore[no-untyped-def]
    outcomes = []
    for batch_size in (1, None):
        platform: InMemoryPlatform = make_platform(["ingest"])
        platform.batch_size = batch_size
        platform.publish_many(_mixed_stream(), Topics.INBOUND)
        platform.run_until_quiet()
        out = {
            topic: [(key, e.id, e.source, e.subject, e.data) for key, e in forwarded(platform, topic)]
            for topic in (Topics.INVOICES, Topics.PAYMENTS, Topics.CUSTOMERS)
        }
        outcomes.append((out, dead_letters(platform)))
    assert outcomes[0] == outcomes[1]
    out, letters = outcomes[1]
    assert [r.split(":")[1].strip() for r in letters] == ["data.amount"]
    assert [row[1] for row in out[Topics.INVOICES]] == ["adj-early", "i1", "i2", "adj-b", "x", "k"]
    assert [row[4]["invoice_id"] for row in out[Topics.INVOICES]][2:4] == ["billing:INV-1"] * 2
    assert [row[1] for row in out[Topics.PAYMENTS]] == ["p1", "r1"]  # p1-resent is a re-send
    assert [row[4]["linked_customer_ids"] for row in out[Topics.CUSTOMERS]] == [[], ["C1"]]
