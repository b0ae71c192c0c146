"""Ids from outside are unique only per (tenant, source system): REST all the way to the emitted events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

Emitted = Callable[[], list[dict[str, Any]]]
Body = Callable[..., dict[str, Any]]
CORE = {"X-Source-System": "core"}
BILLING = {"X-Source-System": "billing"}


def _by_type(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == event_type]


def test_the_same_invoice_id_from_two_sources_is_two_invoices(
    api: TestClient, emitted: Emitted, invoice_body: Body
) -> None:
    first = api.post("/v1/invoices", json=invoice_body("INV-1"), headers=CORE)
    second = api.post("/v1/invoices", json=invoice_body("INV-1", account_id="A2"), headers=BILLING)
    assert (first.status_code, second.status_code) == (202, 202), second.text
    assert first.json()["canonical_id"] == "INV-1"
    assert second.json()["canonical_id"] == "billing:INV-1"
    assert second.json()["invoice_id"] == "INV-1"
    issued = _by_type(emitted(), "cobranza.invoice.issued")
    assert [e["data"]["invoice_id"] for e in issued] == ["INV-1", "billing:INV-1"]
    assert [e["source"] for e in issued] == ["/sources/core", "/sources/billing"]
    assert issued[0]["id"] != issued[1]["id"]
    # each source's re-send is its own duplicate
    again = api.post("/v1/invoices", json=invoice_body("INV-1", account_id="A2"), headers=BILLING)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["canonical_id"] == "billing:INV-1"
    assert len(_by_type(emitted(), "cobranza.invoice.issued")) == 2


def test_follow_ups_resolve_the_source_own_document(
    api: TestClient, emitted: Emitted, invoice_body: Body, payment_body: Body
) -> None:
    api.post("/v1/invoices", json=invoice_body("INV-1"), headers=CORE)
    api.post(
        "/v1/invoices",
        json=invoice_body("INV-1", account_id="A2", currency="USD", amount="10"),
        headers=BILLING,
    )
    api.post("/v1/payments", json=payment_body("PAY-1"), headers=CORE)
    api.post("/v1/payments", json=payment_body("PAY-1", account_id="A2"), headers=BILLING)
    adjusted = api.post(
        "/v1/invoices/INV-1/adjustments",
        json={
            "adjustment_id": "ADJ-1",
            "new_amount": "8",
            "reason": "Nota Crédito",
            "effective_on": "2026-01-07",
        },
        headers=BILLING,
    )
    cancelled = api.post(
        "/v1/invoices/INV-1/cancellation",
        json={"reason": "Revocación", "cancelled_on": "2026-01-08"},
        headers=CORE,
    )
    reversed_ = api.post(
        "/v1/payments/PAY-1/reversal",
        json={"reversed_on": "2026-01-11", "reason": "cheque devuelto"},
        headers=BILLING,
    )
    assert [r.status_code for r in (adjusted, cancelled, reversed_)] == [202, 202, 202], reversed_.text
    events = emitted()
    [adjustment] = _by_type(events, "cobranza.invoice.adjusted")
    assert adjustment["data"]["invoice_id"] == "billing:INV-1"
    assert (adjustment["data"]["account_id"], adjustment["data"]["currency"]) == ("A2", "USD")
    assert (adjustment["data"]["reason"], adjustment["data"]["reason_detail"]) == (
        "credit_note",
        "Nota Crédito",
    )
    [cancellation] = _by_type(events, "cobranza.invoice.cancelled")
    assert (cancellation["data"]["invoice_id"], cancellation["data"]["account_id"]) == ("INV-1", "A1")
    assert cancellation["data"]["reason"] == "policy_cancelled"
    [reversal] = _by_type(events, "cobranza.payment.reversed")
    assert (reversal["data"]["payment_id"], reversal["data"]["account_id"]) == ("billing:PAY-1", "A2")
    assert (reversal["data"]["reason"], reversal["data"]["reason_detail"]) == (
        "bounced_cheque",
        "cheque devuelto",
    )
    assert reversal["key"] == "A2"
    # a source that never sent the payment cannot reverse it (unless it names the account)
    unknown = api.post(
        "/v1/payments/PAY-1/reversal",
        json={"reversed_on": "2026-01-11", "reason": "chargeback"},
        headers={"X-Source-System": "bank"},
    )
    assert unknown.status_code == 404


def test_bulk_mints_one_read_one_write_and_reports_canonical_ids(
    api: TestClient, emitted: Emitted, payment_body: Body
) -> None:
    api.post("/v1/payments", json=payment_body("PAY-1"), headers=CORE)
    items = [payment_body("PAY-1"), payment_body("PAY-2"), payment_body("PAY-2")]
    response = api.post("/v1/payments:bulk", json={"items": items}, headers=BILLING)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["duplicate"]) == (2, 1)
    assert [i["canonical_id"] for i in body["items"]] == ["billing:PAY-1", "PAY-2", "PAY-2"]
    assert [i["status"] for i in body["items"]] == ["accepted", "accepted", "duplicate"]
    received = _by_type(emitted(), "cobranza.payment.received")
    assert [e["data"]["payment_id"] for e in received] == ["PAY-1", "billing:PAY-1", "PAY-2"]
    assert len({e["id"] for e in received}) == 3


def test_two_tenants_reusing_every_id_are_two_tenants(
    api: TestClient, emitted: Emitted, invoice_body: Body, payment_body: Body
) -> None:
    for tenant in ("aseguradora", "banco"):
        headers = {**CORE, "X-Cobranza-Tenant": tenant, "Idempotency-Key": "k-1"}
        assert api.post("/v1/invoices", json=invoice_body("INV-1"), headers=headers).status_code == 202
        headers = {**CORE, "X-Cobranza-Tenant": tenant}
        assert api.post("/v1/payments", json=payment_body("PAY-1"), headers=headers).status_code == 202
        reversal = api.post(
            "/v1/payments/PAY-1/reversal",
            json={"reversed_on": "2026-01-11", "reason": "chargeback"},
            headers=headers,
        )
        assert reversal.status_code == 202
    events = emitted()
    assert len(events) == 6
    assert [e["tenantid"] for e in events] == ["aseguradora"] * 3 + ["banco"] * 3
    # nothing was prefixed: within each tenant one source holds each id
    assert {e["data"].get("invoice_id") or e["data"]["payment_id"] for e in events} == {"INV-1", "PAY-1"}
    assert len({e["id"] for e in events}) == 6


def test_reference_data_is_per_tenant(api: TestClient) -> None:
    office = {"name": "Oficina Centro", "country": "CO"}
    assert (
        api.put("/v1/reference/offices/OF-1", json=office, headers={"X-Cobranza-Tenant": "t1"}).status_code
        == 200
    )
    assert api.get("/v1/reference/offices/OF-1", headers={"X-Cobranza-Tenant": "t1"}).status_code == 200
    assert api.get("/v1/reference/offices/OF-1", headers={"X-Cobranza-Tenant": "t2"}).status_code == 404
    assert api.get("/v1/reference/offices", headers={"X-Cobranza-Tenant": "t2"}).json() == []
    advisor = {"name": "Luis", "office_id": "OF-1"}
    elsewhere = api.put("/v1/reference/advisors/AD-1", json=advisor, headers={"X-Cobranza-Tenant": "t2"})
    assert elsewhere.status_code == 422 and elsewhere.json()["detail"][0]["loc"] == ["body", "office_id"]


def test_customers_are_linked_and_prefixed_within_a_tenant_only(api: TestClient, emitted: Emitted) -> None:
    customer = {"name": "Ana", "phone": "+57 300 123 4567", "account_ids": ["A1"]}
    first = api.put("/v1/customers/C1", json=customer, headers={**CORE, "X-Cobranza-Tenant": "t1"})
    other_tenant = api.put("/v1/customers/C1", json=customer, headers={**BILLING, "X-Cobranza-Tenant": "t2"})
    other_source = api.put(
        "/v1/customers/C1",
        json={**customer, "phone": "+57 310 000 0000"},
        headers={**BILLING, "X-Cobranza-Tenant": "t1"},
    )
    assert first.json()["customer_id"] == "C1"
    assert other_tenant.json()["customer_id"] == "C1" and other_tenant.json()["link_rule"] is None
    assert other_source.json()["customer_id"] == "billing:C1"


def test_customer_upserted_is_keyed_by_customer_id(api: TestClient, emitted: Emitted) -> None:
    body = {"name": "Ana", "phone": "+57 300 123 4567", "account_ids": ["A1", "A2"]}
    assert api.put("/v1/customers/C9", json=body, headers=CORE).status_code == 200
    [event] = emitted()
    assert event["type"] == "cobranza.customer.upserted"
    assert (event["subject"], event["key"]) == ("C9", "C9")
    assert event["data"]["account_ids"] == ["A1", "A2"]


def test_a_follow_up_of_a_document_ingest_never_saw_gets_the_id_the_source_would_have(
    api: TestClient, emitted: Emitted, invoice_body: Body
) -> None:
    api.post("/v1/invoices", json=invoice_body("INV-1"), headers=CORE)
    cancellation = {"reason": "policy_cancelled", "cancelled_on": "2026-01-09", "account_id": "A7"}
    legacy = api.post("/v1/invoices/INV-1/cancellation", json=cancellation, headers=BILLING)
    free = api.post("/v1/invoices/OLD-9/cancellation", json=cancellation, headers=BILLING)
    assert (legacy.status_code, free.status_code) == (202, 202)
    assert (legacy.json()["canonical_id"], free.json()["canonical_id"]) == ("billing:INV-1", "OLD-9")
    cancelled = _by_type(emitted(), "cobranza.invoice.cancelled")
    assert [(e["data"]["invoice_id"], e["data"]["account_id"]) for e in cancelled] == [
        ("billing:INV-1", "A7"),
        ("OLD-9", "A7"),
    ]


def test_a_minted_invoice_id_keeps_the_source_own_id_as_natural_id(
    api: TestClient, emitted: Emitted, invoice_body: Body
) -> None:
    api.post("/v1/invoices", json=invoice_body("INV-1"), headers=CORE)
    api.post(
        "/v1/invoices:bulk", json={"items": [invoice_body("INV-1"), invoice_body("INV-2")]}, headers=BILLING
    )
    issued = _by_type(emitted(), "cobranza.invoice.issued")
    assert [(e["data"]["invoice_id"], e["data"].get("natural_id")) for e in issued] == [
        ("INV-1", None),
        ("billing:INV-1", "INV-1"),
        ("INV-2", None),
    ]
