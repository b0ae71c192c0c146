"""POST /v1/customers/bulk (also /v1/customers:bulk, like invoices and payments): PUT /v1/customers/{id} for many customers, one result per index."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from libs.platform.demo.load import Loader, load_file
from libs.platform.demo.portfolio import DemoSpec
from libs.platform.demo.stream import generate

Emitted = Callable[[], list[dict[str, Any]]]


def person(customer_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": customer_id,
        "name": "Ana",
        "document_id": "900.123.456-7",
        "phone": "+57 300 123 4567",
        "account_ids": ["A1"],
        "contact_points": [{"channel": "sms", "value": "+57 300 123 4567", "consent": True}],
    }
    return {**body, **changes}


def _customers(emitted: Emitted) -> list[dict[str, Any]]:
    return [e for e in emitted() if e["type"] == "cobranza.customer.upserted"]


def test_bulk_customers_report_each_index_and_link_like_put(api: TestClient, emitted: Emitted) -> None:
    put = api.put("/v1/customers/C-9", json={k: v for k, v in person("C-9").items() if k != "customer_id"})
    assert put.status_code == 200, put.text
    response = api.post(
        "/v1/customers/bulk",
        json={
            "items": [
                person("B-1"),  # the same person as core's C-9 (document id): linked
                person("B-2", phone="12"),  # cannot be standardised
                person("B-3", document_id="1", phone="+57 301 000 0001", contact_points=[], colour="red"),
                person("B-4", document_id="2", phone="+57 301 000 0002", contact_points=[]),
            ]
        },
        headers={"X-Source-System": "billing"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"], body["duplicate"]) == (2, 2, 0)
    items = body["items"]
    assert [(i["index"], i["status"], i["id"]) for i in items] == [
        (0, "accepted", "B-1"),
        (1, "rejected", "B-2"),
        (2, "rejected", "B-3"),
        (3, "accepted", "B-4"),
    ]
    assert items[0]["canonical_id"] == "C-9" and items[3]["canonical_id"] == "B-4"
    assert [e["path"] for e in items[1]["errors"]] == ["items.1.phone"]
    assert [e["path"] for e in items[2]["errors"]] == ["items.2.colour"]
    events = _customers(emitted)
    assert [e["data"]["customer_id"] for e in events] == ["C-9", "C-9", "B-4"]
    assert (events[1]["data"]["link_rule"], events[1]["data"]["linked_customer_ids"]) == (
        "document_id",
        ["C-9"],
    )
    assert events[1]["data"]["contact_points"][0]["value"] == "+573001234567"
    assert events[1]["source"] == "/sources/billing" and events[1]["id"] == items[0]["event_id"]
    assert [e["key"] for e in events] == ["C-9", "C-9", "B-4"]


def test_bulk_customers_refuse_an_empty_or_oversized_request(api: TestClient) -> None:
    assert api.post("/v1/customers:bulk", json={"items": []}).status_code == 422
    assert api.post("/v1/customers/bulk", json={"items": [person("X")] * 10_001}).status_code in (413, 422)


def test_demo_load_sends_customers_through_the_bulk_endpoint(ingest, api: TestClient, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    generate(DemoSpec(accounts=12, months=2, seed=5), out)
    path = tmp_path / "portfolio.jsonl"
    path.write_text(out.getvalue())
    expected = out.getvalue().count('"type":"cobranza.customer.upserted"')
    paths: list[tuple[str, str]] = []

    def record(request: httpx.Request) -> None:
        paths.append((request.method, request.url.path))

    api.event_hooks["request"].append(record)
    summary = load_file(path, Loader(api, batch=50, workers=1, publisher=ingest.broker))
    assert expected > 0
    assert summary.by_type["cobranza.customer.upserted"].accepted == expected
    assert summary.totals.rejected == 0
    assert not any(p.startswith("/v1/customers/") and m == "PUT" for m, p in paths)
    assert ("POST", "/v1/customers:bulk") in paths
