"""Standardised debtors are kept per tenant (``ingest.debtors``): a debtor sent again is read back in the
batch's one lookup, not parsed by phonenumbers again, and an erasure deletes them for good."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import phonenumbers
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from libs.runtime.transport.memory import InMemoryPlatform
from services.ingest.domain import standardise

Body = Callable[..., dict[str, Any]]


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every phone number ``phonenumbers.parse`` is asked to read."""
    seen: list[str] = []
    real = phonenumbers.parse

    def counting(number: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(number)
        return real(number, *args, **kwargs)

    monkeypatch.setattr(standardise.phonenumbers, "parse", counting)
    return seen


def _stored(ingest: InMemoryPlatform) -> list[tuple[str, str, dict[str, Any]]]:
    with ingest.context("ingest").sessions() as session:
        rows = session.execute(text("SELECT tenant_id, customer_id, data FROM ingest.debtors ORDER BY 1, 2"))
        return [(r.tenant_id, r.customer_id, r.data) for r in rows]


def _bulk(api: TestClient, *invoices: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/v1/invoices:bulk", json={"items": list(invoices)})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_debtor_sent_again_is_read_back_not_parsed_again(
    ingest: InMemoryPlatform,
    api: TestClient,
    invoice_body: Body,
    emitted: Callable[[], list[dict[str, Any]]],
    parses: list[str],
) -> None:
    first = _bulk(api, invoice_body("I1"), invoice_body("I2"))
    assert first["accepted"] == 2
    assert parses == ["+57 300 123 4567"]  # two invoices, one debtor: one parse
    assert [(t, c) for t, c, _ in _stored(ingest)] == [("default", "C1")]

    parses.clear()
    assert _bulk(api, invoice_body("I3"))["accepted"] == 1  # the next request: a lookup only
    assert parses == []
    customers = [e["data"]["customer"] for e in emitted()]
    assert customers[0] == customers[1] == customers[2]
    assert customers[0]["phone"] == "+573001234567" and customers[0]["timezone"] == "America/Bogota"

    moved = invoice_body("I4", customer={"customer_id": "C1", "name": "Ana", "phone": "+57 301 765 4321"})
    assert _bulk(api, moved)["accepted"] == 1  # another phone is another debtor: standardised
    assert parses == ["+57 301 765 4321"]
    assert emitted()[-1]["data"]["customer"]["phone"] == "+573017654321"


def test_a_bad_debtor_is_rejected_every_time_and_never_stored(
    ingest: InMemoryPlatform, api: TestClient, invoice_body: Body
) -> None:
    bad = invoice_body("I1", customer={"customer_id": "C9", "name": "Zoe", "phone": "12"})
    for _ in range(2):
        body = _bulk(api, bad)
        assert body["rejected"] == 1
        assert body["items"][0]["errors"][0]["path"] == "items.0.customer.phone"
    assert _stored(ingest) == []


def test_the_erasure_deletes_the_stored_debtors_and_a_resent_invoice_does_not_store_them_again(
    ingest: InMemoryPlatform, api: TestClient, invoice_body: Body, parses: list[str]
) -> None:
    other = invoice_body("I2", customer={"customer_id": "C2", "name": "Bea", "phone": "+57 310 000 0002"})
    assert _bulk(api, invoice_body("I1"), other)["accepted"] == 2
    assert [c for _, c, _ in _stored(ingest)] == ["C1", "C2"]

    response = api.post("/v1/customers/C1/erase", json={"reason": "titular request"})
    assert response.status_code == 200, response.text
    assert [c for _, c, _ in _stored(ingest)] == ["C2"]  # the other debtor stays

    parses.clear()
    assert _bulk(api, invoice_body("I3"))["accepted"] == 1  # an old invoice re-sent by the core system
    assert [c for _, c, _ in _stored(ingest)] == ["C2"]
    assert parses == ["+57 300 123 4567"]  # no process cache kept the erased debtor's phone either


def test_debtors_are_kept_per_tenant(ingest: InMemoryPlatform, invoice_body: Body, parses: list[str]) -> None:
    from tests.support.auth import api_client

    for tenant in ("t1", "t2"):
        client = api_client(ingest.context("ingest"), tenant=tenant)
        assert _bulk(client, invoice_body("I1"))["accepted"] == 1
    assert len(parses) == 2  # the second tenant's debtor is its own, standardised again
    assert [(t, c) for t, c, _ in _stored(ingest)] == [("t1", "C1"), ("t2", "C1")]
