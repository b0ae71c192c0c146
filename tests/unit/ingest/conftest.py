"""Shared builders for ingest's API tests: request bodies and what reached the outbox."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from libs.runtime.transport.memory import InMemoryPlatform
from tests.support.auth import api_client

Body = Callable[..., dict[str, Any]]


def _invoice(invoice_id: str = "I1", **changes: Any) -> dict[str, Any]:
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
    return {**body, **changes}


def _payment(payment_id: str = "P1", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "payment_id": payment_id,
        "account_id": "A1",
        "amount": "50000",
        "currency": "COP",
        "received_on": "2026-01-10",
        "method": "pse",
    }
    return {**body, **changes}


@pytest.fixture
def invoice_body() -> Body:
    """``invoice_body("I1", amount="5")``: a valid POST /v1/invoices body with changes."""
    return _invoice


@pytest.fixture
def payment_body() -> Body:
    """``payment_body("P1", method="nequi")``: a valid POST /v1/payments body with changes."""
    return _payment


@pytest.fixture
def ingest(make_platform) -> InMemoryPlatform:  # type: ignore[no-untyped-def]
    platform: InMemoryPlatform = make_platform(["ingest"])
    return platform


@pytest.fixture
def api(ingest: InMemoryPlatform) -> TestClient:
    return api_client(ingest.context("ingest"), raise_server_exceptions=False)


@pytest.fixture
def emitted(ingest: InMemoryPlatform) -> Callable[[], list[dict[str, Any]]]:
    """``emitted()``: every envelope in ingest's outbox, oldest first, with its topic and record key."""

    def read() -> list[dict[str, Any]]:
        ctx = ingest.context("ingest")
        table = ctx.spec.tables.outbox
        with ctx.sessions() as session:
            rows = session.execute(select(table.c.value, table.c.topic, table.c.key).order_by(table.c.id))
            return [{**json.loads(v), "topic": t, "key": k} for v, t, k in rows]

    return read
