"""Bad input is answered (422/413/404 with where it went wrong), never stored, never a 500."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from libs.runtime.http import HttpSettings, create_app
from libs.runtime.transport.memory import InMemoryPlatform
from tests.support.auth import api_client

Emitted = Callable[[], list[dict[str, Any]]]
Body = Callable[..., dict[str, Any]]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("payment_id", "PAY\x00-1"),
        ("account_id", "A\x1b1"),
        ("reference", "POLIZA\x00"),
        ("payer_name", "ANA\x7f"),
    ],
)
def test_control_characters_in_a_body_field_are_422_with_its_path(
    api: TestClient, emitted: Emitted, payment_body: Body, field: str, value: str
) -> None:
    response = api.post("/v1/payments", json=payment_body(**{field: value}))
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert emitted() == []


def test_nested_and_bulk_fields_report_their_path(
    api: TestClient, emitted: Emitted, invoice_body: Body, payment_body: Body
) -> None:
    bad = invoice_body(customer={"customer_id": "C1", "name": "Ana\x00", "phone": "+57 300 123 4567"})
    response = api.post("/v1/invoices", json=bad)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "customer", "name"]
    bulk = api.post(
        "/v1/payments:bulk",
        json={"items": [payment_body("P\x00"), payment_body("P2", reference="línea 1\nlínea 2\tfin")]},
        headers={"Idempotency-Key": "bulk-1"},
    )
    assert bulk.status_code == 200, bulk.text
    first, second = bulk.json()["items"]
    assert first["status"] == "rejected" and first["errors"][0]["path"] == "items.0.payment_id"
    assert first["id"] == "P\\u0000"  # reported printable, and storable as the idempotent answer
    assert second["status"] == "accepted"
    [event] = emitted()
    assert event["data"]["reference"] == "línea 1\nlínea 2\tfin"


def test_control_characters_in_path_and_query_parameters_are_422(api: TestClient) -> None:
    body = {"reason": "policy_cancelled", "cancelled_on": "2026-01-09", "account_id": "A1"}
    response = api.post("/v1/invoices/INV%00-1/cancellation", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["path", "invoice_id"]
    response = api.get("/v1/reference/offices/OF%01")
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["path", "entity_id"]
    response = api.get("/v1/reference/offices", params={"q": "a\x00"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "q"]
    too_long = api.post(f"/v1/invoices/{'X' * 129}/cancellation", json=body)
    assert too_long.status_code == 422 and too_long.json()["detail"][0]["loc"] == ["path", "invoice_id"]
    unknown = api.post(
        "/v1/payments/NOPE/reversal", json={"reversed_on": "2026-01-11", "reason": "chargeback"}
    )
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("amount", "status"),
    [
        ("1e30", 422),
        ("100000000000000", 422),
        ("10.00001", 422),
        ("99999999999999.9999", 202),
        ("0.0001", 202),
    ],
)
def test_amounts_are_bounded_to_what_every_service_stores(
    api: TestClient, payment_body: Body, amount: str, status: int
) -> None:
    response = api.post("/v1/payments", json=payment_body(amount=amount))
    assert response.status_code == status, response.text
    if status == 422:
        assert response.json()["detail"][0]["loc"] == ["body", "amount"]


def test_an_overflowing_amount_in_a_bulk_is_rejected_alone(
    api: TestClient, emitted: Emitted, invoice_body: Body
) -> None:
    response = api.post(
        "/v1/invoices:bulk", json={"items": [invoice_body("I1", amount="1e30"), invoice_body("I2")]}
    )
    assert response.status_code == 200
    assert [i["status"] for i in response.json()["items"]] == ["rejected", "accepted"]
    assert response.json()["items"][0]["errors"][0]["path"] == "items.0.amount"
    assert [e["data"]["invoice_id"] for e in emitted()] == ["I2"]


def test_ids_and_free_text_have_length_bounds(api: TestClient, payment_body: Body) -> None:
    response = api.post("/v1/payments", json=payment_body("P" * 129))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "payment_id"]
    response = api.post("/v1/payments", json=payment_body(payer_name="x" * 301))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "payer_name"]


def test_a_422_never_echoes_megabytes(api: TestClient, payment_body: Body) -> None:
    response = api.post("/v1/payments", json=payment_body(payer_name="x" * 5_000_000))
    assert response.status_code == 422
    assert len(response.content) < 2_000
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "payer_name"] and error["input"].endswith("(5000000 characters)")


def test_a_body_that_is_not_utf8_json_is_a_client_error(api: TestClient) -> None:
    response = api.post(
        "/v1/payments", content=b'{"payment_id": "\xff\xfe"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert len(response.content) < 2_000


@pytest.fixture
def small_api(ingest: InMemoryPlatform) -> TestClient:
    app = create_app(ingest.context("ingest"), http=HttpSettings(max_body_bytes=2_000))
    return api_client(ingest.context("ingest"), app=app, raise_server_exceptions=False)


def test_a_body_over_the_limit_is_413_by_content_length(small_api: TestClient, payment_body: Body) -> None:
    items = [payment_body(f"P{i}") for i in range(50)]
    response = small_api.post("/v1/payments:bulk", json={"items": items})
    assert response.status_code == 413
    assert response.json() == {"detail": "request body larger than 2000 bytes"}
    assert small_api.post("/v1/payments", json=payment_body()).status_code == 202


def test_a_streamed_body_is_counted_not_trusted(
    small_api: TestClient, emitted: Emitted, payment_body: Body
) -> None:
    chunk = json.dumps({"items": [payment_body(f"P{i}") for i in range(50)]}).encode()

    def stream() -> Iterator[bytes]:  # chunked: no Content-Length to check up front
        for start in range(0, len(chunk), 500):
            yield chunk[start : start + 500]

    response = small_api.post(
        "/v1/payments:bulk", content=stream(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["detail"] == "request body larger than 2000 bytes"
    assert emitted() == []


@pytest.mark.parametrize(
    ("label", "method"),
    [
        ("transfer", "bank_transfer"),
        ("PSE", "pse"),
        ("nequi", "wallet"),
        ("Transferencia", "bank_transfer"),
        ("Zelle", "other"),
    ],
)
def test_payment_labels_are_accepted_and_forwarded_normalised(
    api: TestClient, emitted: Emitted, payment_body: Body, label: str, method: str
) -> None:
    response = api.post("/v1/payments", json=payment_body(method=label))
    assert response.status_code == 202, response.text
    [event] = emitted()
    assert (event["data"]["method"], event["data"]["method_detail"]) == (method, label)


def test_bulk_payments_with_labels_are_all_accepted(
    api: TestClient, emitted: Emitted, payment_body: Body
) -> None:
    items = [
        payment_body(f"P{i}", method=label)
        for i, label in enumerate(["Consignación", "tarjeta de crédito", "efectivo"])
    ]
    response = api.post("/v1/payments:bulk", json={"items": items})
    assert response.json()["accepted"] == 3
    assert [e["data"]["method"] for e in emitted()] == ["bank_transfer", "card", "cash"]


def test_reason_labels_are_accepted_and_forwarded_normalised(
    api: TestClient, emitted: Emitted, invoice_body: Body, payment_body: Body
) -> None:
    api.post("/v1/invoices", json=invoice_body("I1"))
    api.post("/v1/payments", json=payment_body("P1"))
    api.post(
        "/v1/invoices/I1/cancellation", json={"reason": "castigo de cartera", "cancelled_on": "2026-01-09"}
    )
    api.post("/v1/payments/P1/reversal", json={"reversed_on": "2026-01-11", "reason": "something new"})
    cancelled, reversed_ = emitted()[2:]
    assert (cancelled["data"]["reason"], cancelled["data"]["reason_detail"]) == (
        "written_off",
        "castigo de cartera",
    )
    assert (reversed_["data"]["reason"], reversed_["data"]["reason_detail"]) == ("other", "something new")


@pytest.mark.parametrize(
    ("header", "value"),
    [("X-Source-System", "core\x01"), ("Idempotency-Key", "k\x00")],
)
def test_control_characters_in_headers_are_422(
    api: TestClient, emitted: Emitted, payment_body: Body, header: str, value: str
) -> None:
    response = api.post("/v1/payments", json=payment_body(), headers={header: value})
    assert response.status_code == 422, response.text
    assert [part.lower() for part in response.json()["detail"][0]["loc"]] == ["header", header.lower()]
    assert emitted() == []


@pytest.mark.parametrize("correlation", ["c" * 201, "bad\x01id"])
def test_an_unusable_correlation_id_is_replaced_not_a_failure(
    api: TestClient, emitted: Emitted, payment_body: Body, correlation: str
) -> None:
    response = api.post("/v1/payments", json=payment_body(), headers={"x-correlation-id": correlation})
    assert response.status_code == 202, response.text
    fresh = response.headers["x-correlation-id"]
    assert fresh != correlation
    [event] = emitted()
    assert event["correlationid"] == fresh


def test_a_usable_correlation_id_travels_on_the_events(
    api: TestClient, emitted: Emitted, payment_body: Body
) -> None:
    response = api.post("/v1/payments", json=payment_body(), headers={"x-correlation-id": "lote-2026-01"})
    assert response.headers["x-correlation-id"] == "lote-2026-01"
    assert emitted()[0]["correlationid"] == "lote-2026-01"
