"""One tenant never sees another's data: through the API of two services (the tenant is the
credential's, a header cannot pick another) and through Kafka (an inbound event whose tenant
does not own its source is dead-lettered with the reason)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.runtime.transport.memory import InMemoryPlatform
from tests.support.auth import api_client, new_key

INVOICE: dict[str, Any] = {
    "invoice_id": "I1",
    "account_id": "A1",
    "customer": {"customer_id": "C1", "name": "Ana", "phone": "+57 300 123 4567"},
    "amount": "100000.00",
    "currency": "COP",
    "issued_on": "2026-01-05",
    "due_on": "2026-01-20",
    "product_line": "auto",
}


def test_another_tenants_account_is_404_on_two_services(make_platform) -> None:  # type: ignore[no-untyped-def]
    platform: InMemoryPlatform = make_platform(["ingest", "reconciliation", "aging", "reporting"])
    ingest = api_client(platform.context("ingest"), role="ingest", tenant="acme", source="core")
    assert ingest.post("/v1/invoices", json=INVOICE).status_code == 202
    platform.run_until_quiet()

    for service, path in (("aging", "/v1/accounts/A1"), ("reporting", "/v1/accounts/A1/balances")):
        mine = api_client(platform.context(service), role="agent", tenant="acme")
        theirs = api_client(platform.context(service), role="agent", tenant="initech")
        assert mine.get(path).status_code == 200, (service, mine.get(path).text)
        assert theirs.get(path).status_code == 404, service
        # the old tenant header picks nothing: the credential's tenant answers
        smuggled = theirs.get(
            path, headers={"Authorization": theirs.headers["authorization"], "X-Cobranza-Tenant": "acme"}
        )
        assert smuggled.status_code == 404, service


CUSTOMER = {
    "customer_id": "C1",
    "name": "Ana",
    "kind": "person",
    "country": "CO",
    "timezone": "America/Bogota",
}


def inbound(event_id: str, tenant: str, source: str) -> Envelope:
    return Envelope(
        id=event_id,
        source=f"/sources/{source}",
        type="cobranza.invoice.issued",
        time=datetime(2026, 1, 9, tzinfo=UTC),
        subject="A1",
        tenantid=tenant,
        data={**INVOICE, "invoice_id": event_id, "customer": CUSTOMER},
    )


def dead_letters(platform: InMemoryPlatform) -> list[str]:
    out = []
    for p in platform.broker.topics.get(Topics.DEAD_LETTER, []):
        reason = dict(p.record.headers)["dlq_reason"]
        out.append(reason.decode() if isinstance(reason, bytes) else reason)
    return out


def issued(platform: InMemoryPlatform) -> list[tuple[str, str]]:
    return [
        (e.tenantid, e.data["invoice_id"])
        for e in (
            Envelope.from_json(p.record.value or b"") for p in platform.broker.topics.get(Topics.INVOICES, [])
        )
    ]


@pytest.fixture
def bound(make_platform) -> InMemoryPlatform:  # type: ignore[no-untyped-def]
    platform: InMemoryPlatform = make_platform(["ingest"])
    new_key(platform.context("ingest"), "ingest", "acme", source="core_acme")
    new_key(platform.context("ingest"), "ingest", "initech", source="core_initech")
    return platform


def test_kafka_producer_may_publish_only_for_the_tenant_owning_its_source(bound: InMemoryPlatform) -> None:
    bound.publish(inbound("OK-1", "acme", "core_acme"), Topics.INBOUND)
    bound.publish(inbound("STOLEN-1", "initech", "core_acme"), Topics.INBOUND)  # acme's source into initech
    bound.publish(inbound("ROGUE-1", "acme", "unregistered"), Topics.INBOUND)
    bound.publish(inbound("OK-2", "initech", "core_initech"), Topics.INBOUND)
    bound.run_until_quiet()
    assert sorted(issued(bound)) == [("acme", "OK-1"), ("initech", "OK-2")]
    reasons = dead_letters(bound)
    assert len(reasons) == 2
    assert any("STOLEN-1" in r and "registered to another tenant" in r for r in reasons), reasons
    assert any("ROGUE-1" in r and "not one of tenant 'acme'" in r for r in reasons), reasons


def test_strict_binding_refuses_unregistered_sources_everywhere(make_platform, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COBRANZA_AUTH_INBOUND_BINDING", "strict")
    platform: InMemoryPlatform = make_platform(["ingest"])
    platform.publish(inbound("X-1", "fresh", "anything"), Topics.INBOUND)
    platform.run_until_quiet()
    assert issued(platform) == []
    assert ["strict inbound binding" in r for r in dead_letters(platform)] == [True]
