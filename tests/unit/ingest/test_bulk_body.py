"""A bulk body read once and validated in one ``validate_json`` (``entrypoints/bulk_body.py``) gives what
FastAPI's ``json.loads`` + request model + ``validate_each`` gave: the same item models when all are
valid, the same answers (taken from the code before the change) for a body that is not one."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from libs.events.payloads.payments import PaymentReceived
from services.ingest.domain.requests import CustomerItemIn, InvoiceIn
from services.ingest.entrypoints.bulk_body import _typed
from services.ingest.service_layer.commands import validate_each
from tests.unit.ingest.conftest import _invoice, _payment

ITEMS: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (InvoiceIn, _invoice()),
    (InvoiceIn, _invoice(" I2 ", currency="usd", amount=250000, installment_number=3, description=" x ")),
    (InvoiceIn, _invoice(amount="1e3", customer={"customer_id": "C2", "name": "Bea", "email": "b@EXAMPLE.com"})),
    (InvoiceIn, _invoice(amount=1.5)),
    (InvoiceIn, _invoice(amount="1e30")),
    (InvoiceIn, _invoice(installment_number="2", issued_on="2026-01-05T00:00:00")),
    (InvoiceIn, _invoice(installment_number=True)),
    (InvoiceIn, _invoice(installment_number=2.0)),
    (InvoiceIn, _invoice(due_on="2025-01-01")),
    (InvoiceIn, _invoice(issued_on=1767571200)),
    (InvoiceIn, _invoice(invoice_id="I\u0000")),
    (InvoiceIn, _invoice(typo=1)),
    (PaymentReceived, _payment()),
    (PaymentReceived, _payment(method="Zelle", amount=7, reference=" R ")),
    (PaymentReceived, _payment(amount=7.25)),
    (PaymentReceived, _payment(received_on="2026-02-30")),
    (PaymentReceived, _payment(currency=None)),
    (PaymentReceived, _payment(unknown_field={"a": 1})),
    (CustomerItemIn, {"customer_id": "C1", "name": "Ana", "contact_points": [{"channel": "sms", "value": "1", "consent": "yes"}]}),
    (CustomerItemIn, {"customer_id": "C1", "name": "Ana", "account_ids": ["A1"], "preferred_channels": ["sms"]}),
]  # fmt: skip


@pytest.mark.parametrize(("model", "item"), ITEMS)
def test_one_validate_json_gives_the_models_validate_each_gave(
    model: type[BaseModel], item: dict[str, Any]
) -> None:
    """Where the one-call path accepts an item, the item-by-item path accepts it as the same model;
    where it refuses, the careful path (``validate_each``) decides, as before."""
    before = validate_each(model, [json.loads(json.dumps(item))])[0]
    try:
        fast = _typed(model).validate_json(json.dumps({"items": [item]})).items[0]
    except ValidationError:
        return
    assert not isinstance(before, ValidationError), before
    assert fast == before
    assert fast.model_dump_json() == before.model_dump_json()


BAD = [
    (b'{"items": [', 422, [{"type": "json_invalid", "loc": ["body", 11], "msg": "JSON decode error", "input": {}, "ctx": {"error": "Expecting value"}}]),
    (b'{"items": ["\xff\xfe"]}', 400, "There was an error parsing the body"),
    (b"[]", 422, [{"type": "model_attributes_type", "loc": ["body"], "msg": "Input should be a valid dictionary or object to extract fields from", "input": []}]),
    (b"null", 422, [{"type": "model_attributes_type", "loc": ["body"], "msg": "Input should be a valid dictionary or object to extract fields from", "input": None}]),
    (b"", 422, [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]),
    (b'{"items": []}', 422, [{"type": "too_short", "loc": ["body", "items"], "msg": "List should have at least 1 item after validation, not 0", "input": [], "ctx": {"field_type": "List", "min_length": 1, "actual_length": 0}}]),
    (b'{"items": "x"}', 422, [{"type": "list_type", "loc": ["body", "items"], "msg": "Input should be a valid list", "input": "x"}]),
    (b"{}", 422, [{"type": "missing", "loc": ["body", "items"], "msg": "Field required", "input": {}}]),
    (b'{"items": [1, {"payment_id": "P1"}]}', 422, [{"type": "dict_type", "loc": ["body", "items", 0], "msg": "Input should be a valid dictionary", "input": 1}]),
]  # fmt: skip


@pytest.mark.parametrize("path", ["/v1/payments:bulk", "/v1/invoices:bulk", "/v1/customers/bulk"])
@pytest.mark.parametrize(("raw", "code", "detail"), BAD)
def test_a_body_that_is_not_a_bulk_request_gets_the_answer_it_got_before(
    api: TestClient, path: str, raw: bytes, code: int, detail: Any
) -> None:
    response = api.post(path, content=raw, headers={"content-type": "application/json"})
    assert (response.status_code, response.json()["detail"]) == (code, detail)


def test_a_body_that_is_not_json_by_its_content_type_is_refused_as_before(api: TestClient) -> None:
    raw = json.dumps({"items": [_payment()]})
    response = api.post("/v1/payments:bulk", content=raw, headers={"content-type": "text/plain"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "model_attributes_type"
    assert response.json()["detail"][0]["loc"] == ["body"]


def test_keys_beside_items_are_ignored_and_a_rejected_item_keeps_its_paths(api: TestClient) -> None:
    body = {"items": [_payment("P1"), _payment("P2", amount=1.5), _invoice()], "note": "ignored"}
    response = api.post("/v1/payments:bulk", json=body)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["status"] for i in items] == ["accepted", "rejected", "rejected"]
    assert items[1]["id"] == "P2" and [e["path"] for e in items[1]["errors"]] == ["items.1.amount"]
    assert {e["path"] for e in items[2]["errors"]} >= {"items.2.payment_id", "items.2.received_on"}
