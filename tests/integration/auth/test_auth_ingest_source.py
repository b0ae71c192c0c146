"""Ingest's source system comes from the key, never from a header (only an admin may name one)."""

from __future__ import annotations

import json

from sqlalchemy import select

from libs.runtime.transport.memory import InMemoryPlatform
from tests.integration.auth.test_auth_tenants import INVOICE
from tests.support.auth import api_client


def sources(platform: InMemoryPlatform) -> list[str]:
    ctx = platform.context("ingest")
    table = ctx.spec.tables.outbox
    with ctx.sessions() as session:
        return [
            json.loads(v)["source"]
            for v in session.execute(select(table.c.value).order_by(table.c.id)).scalars()
        ]


def test_an_ingest_key_publishes_as_its_own_source(make_platform) -> None:  # type: ignore[no-untyped-def]
    platform: InMemoryPlatform = make_platform(["ingest"])
    ctx = platform.context("ingest")
    core = api_client(ctx, role="ingest", tenant="acme", source="core_polizas")
    assert core.post("/v1/invoices", json=INVOICE).status_code == 202
    spoofed = core.post(
        "/v1/invoices", json={**INVOICE, "invoice_id": "I2"}, headers={"X-Source-System": "banco"}
    )
    assert spoofed.status_code == 403
    assert (
        core.post(
            "/v1/invoices", json={**INVOICE, "invoice_id": "I3"}, headers={"X-Source-System": "core_polizas"}
        ).status_code
        == 202
    )
    plain = api_client(ctx, role="ingest", tenant="acme")
    assert plain.post("/v1/invoices", json={**INVOICE, "invoice_id": "I4"}).status_code == 202
    admin = api_client(ctx, role="admin", tenant="acme")
    assert (
        admin.post(
            "/v1/invoices", json={**INVOICE, "invoice_id": "I5"}, headers={"X-Source-System": "banco"}
        ).status_code
        == 202
    )
    assert sources(platform) == [
        "/sources/core_polizas",
        "/sources/core_polizas",
        "/sources/api",
        "/sources/banco",
    ]
