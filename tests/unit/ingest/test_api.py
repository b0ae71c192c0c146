"""ingest's REST API on the in-memory platform: idempotency keys, duplicates, bulk partial acceptance."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from libs.events.catalog import Topics
from tests.support.auth import api_client


def invoice(invoice_id: str = "I1", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "invoice_id": invoice_id,
        "account_id": "A1",
        "customer": {"customer_id": "C1", "name": "Ana", "phone": "+57 300 123 4567"},
        "amount": "100000.00",
        "currency": "COP",
        "issued_on": "2026-01-05",
        "due_on": "2026-01-20",
        "product_line": "auto",
    }
    body.update(changes)
    return body


def payment(payment_id: str = "P1", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "payment_id": payment_id,
        "account_id": "A1",
        "amount": "50000",
        "currency": "COP",
        "received_on": "2026-01-10",
        "method": "pse",
    }
    body.update(changes)
    return body


@pytest.fixture
def platform(make_platform):  # type: ignore[no-untyped-def]
    return make_platform(["ingest"])


@pytest.fixture
def client(platform) -> TestClient:  # type: ignore[no-untyped-def]
    return api_client(platform.context("ingest"))


def outbox(platform) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    ctx = platform.context("ingest")
    table = ctx.spec.tables.outbox
    with ctx.sessions() as session:
        return [
            {**json.loads(v), "topic": t}
            for v, t in session.execute(select(table.c.value, table.c.topic).order_by(table.c.id))
        ]


def test_invoice_is_standardised_and_published_from_its_source(client: TestClient, platform) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/v1/invoices", json=invoice(), headers={"X-Source-System": "core_polizas"})
    assert response.status_code == 202, response.text
    [event] = outbox(platform)
    assert event["source"] == "/sources/core_polizas"
    assert event["type"] == "cobranza.invoice.issued" and event["topic"] == Topics.INVOICES
    assert event["data"]["customer"]["country"] == "CO"
    assert event["data"]["customer"]["timezone"] == "America/Bogota"
    assert event["data"]["customer"]["phone"] == "+573001234567"
    assert response.json()["event_id"] == event["id"]


def test_invalid_invoice_is_422_with_field_paths(client: TestClient, platform) -> None:  # type: ignore[no-untyped-def]
    bad = invoice(amount=1.5)
    bad["customer"] = {"customer_id": "C1", "name": "Ana", "email": "ana@example.com"}
    response = client.post("/v1/invoices", json=bad)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "amount"]
    no_country = invoice(customer={"customer_id": "C1", "name": "Ana", "email": "ana@example.com"})
    response = client.post("/v1/invoices", json=no_country)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "customer", "country"]
    assert outbox(platform) == []


def test_idempotency_key_replays_the_original_response(client: TestClient, platform) -> None:  # type: ignore[no-untyped-def]
    headers = {"Idempotency-Key": "k-1"}
    first = client.post("/v1/invoices", json=invoice(), headers=headers)
    retry = client.post("/v1/invoices", json=invoice(), headers=headers)
    assert (first.status_code, retry.status_code) == (202, 202)
    assert retry.json() == first.json()
    assert retry.headers["Idempotency-Replayed"] == "true"
    assert len(outbox(platform)) == 1
    other_body = client.post("/v1/invoices", json=invoice("I2"), headers=headers)
    assert other_body.status_code == 422
    assert other_body.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert len(outbox(platform)) == 1
    # keys are per source system
    elsewhere = client.post("/v1/invoices", json=invoice(), headers={**headers, "X-Source-System": "billing"})
    assert elsewhere.status_code == 202 and len(outbox(platform)) == 2


def test_failed_request_does_not_burn_its_key(client: TestClient) -> None:
    headers = {"Idempotency-Key": "k-2"}
    assert (
        client.post(
            "/v1/payments/NOPE/reversal",
            json={"reversed_on": "2026-01-11", "reason": "chargeback"},
            headers=headers,
        ).status_code
        == 404
    )
    client.post("/v1/payments", json=payment("NOPE"))
    again = client.post(
        "/v1/payments/NOPE/reversal",
        json={"reversed_on": "2026-01-11", "reason": "chargeback"},
        headers=headers,
    )
    assert again.status_code == 202


def test_duplicate_ids_per_source_are_reported_not_re_emitted(client: TestClient, platform) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/v1/invoices", json=invoice()).status_code == 202
    dup = client.post("/v1/invoices", json=invoice(amount="5"))
    assert dup.status_code == 200 and dup.json()["status"] == "duplicate"
    assert client.post("/v1/payments", json=payment()).status_code == 202
    assert client.post("/v1/payments", json=payment()).json()["status"] == "duplicate"
    assert [e["type"] for e in outbox(platform)] == ["cobranza.invoice.issued", "cobranza.payment.received"]


def test_bulk_accepts_valid_items_and_reports_the_rest_by_index(client: TestClient, platform) -> None:  # type: ignore[no-untyped-def]
    client.post("/v1/invoices", json=invoice("OLD"))
    items = [
        invoice("B1"),
        invoice("B2", amount="-1"),
        invoice("OLD"),
        invoice("B3", customer={"customer_id": "C9", "name": "Luis", "phone": "999"}),
        invoice("B1"),
        invoice("B4", due_on="2026-01-01"),
        invoice("B5", customer={"customer_id": "C5", "name": "Eva", "country": "MX"}),
    ]
    response = client.post("/v1/invoices:bulk", json={"items": items})
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (2, 2, 3)
    statuses = [(i["index"], i["status"]) for i in body["items"]]
    assert statuses == [
        (0, "accepted"), (1, "rejected"), (2, "duplicate"), (3, "rejected"),
        (4, "duplicate"), (5, "rejected"), (6, "accepted"),
    ]  # fmt: skip
    assert body["items"][1]["errors"][0]["path"] == "items.1.amount"
    assert body["items"][3]["errors"][0]["path"] == "items.3.customer.phone"
    assert body["items"][5]["errors"][0]["path"] == "items.5.due_on"
    emitted = [e["data"]["invoice_id"] for e in outbox(platform)]
    assert emitted == ["OLD", "B1", "B5"]
    assert outbox(platform)[2]["data"]["customer"]["timezone"] == "America/Mexico_City"


def test_bulk_payments_and_reversal_find_the_account(client: TestClient, platform) -> None:  # type: ignore[no-untyped-def]
    body = client.post("/v1/payments:bulk", json={"items": [payment("P1"), payment("P2", amount="0")]}).json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert body["items"][1]["errors"][0]["path"] == "items.1.amount"
    reversal = client.post(
        "/v1/payments/P1/reversal", json={"reversed_on": "2026-01-11", "reason": "bounced_cheque"}
    )
    assert reversal.status_code == 202
    assert (
        client.post(
            "/v1/payments/P1/reversal", json={"reversed_on": "2026-01-12", "reason": "bounced_cheque"}
        ).json()["status"]
        == "duplicate"
    )
    events = outbox(platform)
    assert events[-1]["type"] == "cobranza.payment.reversed" and events[-1]["subject"] == "A1"
    assert len(events) == 2


def test_adjustment_and_cancellation(client: TestClient, platform) -> None:  # type: ignore[no-untyped-def]
    client.post("/v1/invoices", json=invoice())
    adj = {
        "adjustment_id": "NC-1",
        "new_amount": "80000",
        "reason": "credit_note",
        "effective_on": "2026-01-08",
    }
    assert client.post("/v1/invoices/I1/adjustments", json=adj).status_code == 202
    assert client.post("/v1/invoices/I1/adjustments", json=adj).json()["status"] == "duplicate"
    assert client.post("/v1/invoices/NOPE/adjustments", json=adj).status_code == 404
    cancel = {"reason": "policy_cancelled", "cancelled_on": "2026-01-09"}
    assert client.post("/v1/invoices/I1/cancellation", json=cancel).status_code == 202
    events = outbox(platform)
    assert [e["type"] for e in events] == [
        "cobranza.invoice.issued", "cobranza.invoice.adjusted", "cobranza.invoice.cancelled",
    ]  # fmt: skip
    assert (
        events[1]["data"] | {"currency": "COP", "account_id": "A1", "new_amount": "80000"}
        == events[1]["data"]
    )


def test_customer_from_two_sources_is_linked(client: TestClient, platform) -> None:  # type: ignore[no-untyped-def]
    ana = {
        "name": "Ana Pérez",
        "document_id": "52.111.222",
        "email": "ana@example.com",
        "country": "CO",
        "contact_points": [{"channel": "whatsapp", "value": "3001234567", "consent": True, "primary": True}],
    }
    first = client.put("/v1/customers/P-77", json=ana, headers={"X-Source-System": "core_polizas"}).json()
    assert (first["customer_id"], first["link_rule"]) == ("P-77", None)
    second = client.put(
        "/v1/customers/B-1",
        json={**ana, "document_id": "52111222", "email": None},
        headers={"X-Source-System": "billing"},
    ).json()
    assert (second["customer_id"], second["link_rule"], second["linked_customer_ids"]) == (
        "P-77",
        "document_id",
        ["P-77"],
    )
    by_email = client.put(
        "/v1/customers/X-5",
        json={"name": "Ana", "email": "ana@example.com", "phone": "+573001234567"},
        headers={"X-Source-System": "crm"},
    ).json()
    assert (by_email["customer_id"], by_email["link_rule"]) == ("P-77", "email")
    assert by_email["customer"]["timezone"] == "America/Bogota"
    again = client.put("/v1/customers/P-77", json=ana, headers={"X-Source-System": "core_polizas"}).json()
    assert again["linked_customer_ids"] == ["B-1", "X-5"]
    stranger = client.put(
        "/v1/customers/P-77", json={"name": "Otro", "country": "CO"}, headers={"X-Source-System": "other"}
    ).json()
    assert stranger["customer_id"] == "other:P-77"  # same id, different person, other source
    event = outbox(platform)[1]
    assert event["type"] == "cobranza.customer.upserted" and event["topic"] == Topics.CUSTOMERS
    assert event["data"]["link_rule"] == "document_id"
    assert event["data"]["contact_points"][0]["value"] == "+573001234567"


def test_invoices_use_the_canonical_customer_id(client: TestClient, platform) -> None:  # type: ignore[no-untyped-def]
    client.put(
        "/v1/customers/P-77",
        json={"name": "Ana", "email": "ana@example.com", "country": "CO"},
        headers={"X-Source-System": "core_polizas"},
    )
    body = invoice(
        customer={"customer_id": "B-1", "name": "Ana", "email": "ana@example.com", "country": "CO"}
    )
    assert client.post("/v1/invoices", json=body, headers={"X-Source-System": "billing"}).status_code == 202
    assert outbox(platform)[-1]["data"]["customer"]["customer_id"] == "P-77"


def test_reference_data_hierarchy(client: TestClient, platform) -> None:  # type: ignore[no-untyped-def]
    assert client.put("/v1/reference/product-lines/auto", json={"name": "Autos"}).status_code == 200
    orphan = client.put("/v1/reference/advisors/AS-1", json={"name": "Luis", "office_id": "BOG"})
    assert orphan.status_code == 422 and orphan.json()["detail"][0]["loc"] == ["body", "office_id"]
    assert (
        client.put("/v1/reference/offices/BOG", json={"name": "Bogotá", "region": "Cundinamarca"}).status_code
        == 200
    )
    assert (
        client.put(
            "/v1/reference/agencies/AG-1", json={"name": "Seguros Ya", "commission_rate": "0.12"}
        ).status_code
        == 200
    )
    assert (
        client.put("/v1/reference/agencies/AG-2", json={"name": "X", "commission_rate": "1.5"}).status_code
        == 422
    )
    assert (
        client.put("/v1/reference/product-lines/vida", json={"name": "Vida", "office_id": "BOG"}).status_code
        == 422
    )
    ok = client.put(
        "/v1/reference/advisors/AS-1", json={"name": "Luis", "office_id": "BOG", "agency_id": "AG-1"}
    )
    assert ok.status_code == 200
    assert client.get("/v1/reference/advisors/AS-1").json()["office_id"] == "BOG"
    assert [a["entity_id"] for a in client.get("/v1/reference/agencies").json()] == ["AG-1"]
    events = [e for e in outbox(platform) if e["type"] == "cobranza.reference.upserted"]
    assert [e["subject"] for e in events] == [
        "product_line:auto",
        "office:BOG",
        "agency:AG-1",
        "advisor:AS-1",
    ]
    assert {e["topic"] for e in events} == {Topics.REFERENCE}


def test_file_upload_returns_the_row_report(client: TestClient, platform) -> None:  # type: ignore[no-untyped-def]
    content = "payment_id,account_id,amount,currency,received_on\nF1,A1,100,COP,2026-01-05\nF2,A1,abc,COP,2026-01-05\n"
    response = client.post(
        "/v1/files", files={"file": ("pagos.csv", content, "text/csv")}, data={"source": "banco_z"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["kind"], body["accepted"], body["rejected"]) == ("payments", 1, 1)
    assert body["report"][1]["row"] == 3 and body["report"][1]["reason"].startswith("amount:")
    bad = client.post("/v1/files", files={"file": ("x.csv", "a,b\n1,2\n", "text/csv")})
    assert bad.status_code == 422


def test_openapi_documents_the_commands(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    bulk = paths["/v1/invoices:bulk"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    ref = bulk["properties"]["items"]["items"]["$ref"].rsplit("/", 1)[-1]
    assert "customer" in spec["components"]["schemas"][ref]["properties"]
    for path in (
        "/v1/invoices",
        "/v1/invoices:bulk",
        "/v1/invoices/{invoice_id}/adjustments",
        "/v1/payments/{payment_id}/reversal",
        "/v1/customers/{customer_id}",
        "/v1/files",
    ):
        assert path in paths
