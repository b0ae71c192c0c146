"""``cobranza privacy export``: every service's rows on one customer, another tenant's never."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.platform.privacy import export_customer
from libs.platform.registry import load_spec

SERVICES = ["ingest", "aging", "reconciliation", "segmentation", "strategy", "notifier", "reporting"]


def invoice(event_id: str, tenant: str, customer: dict[str, Any]) -> Envelope:
    return Envelope(
        id=event_id,
        source="/core/policy",
        type="cobranza.invoice.issued",
        time=datetime(2026, 1, 5, 15, tzinfo=UTC),
        subject="A1",
        tenantid=tenant,
        data={
            "invoice_id": "I1",
            "account_id": "A1",
            "customer": customer,
            "amount": "100000.00",
            "currency": "COP",
            "issued_on": "2026-01-05",
            "due_on": "2026-01-20",
            "product_line": "auto",
        },
    )


def person(customer_id: str, name: str, email: str) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "name": name,
        "kind": "person",
        "country": "CO",
        "timezone": "America/Bogota",
        "email": email,
        "phone": "+573001234567",
    }


def test_export_lists_what_every_service_holds_on_the_customer_and_nothing_of_another_tenant(
    make_platform,
) -> None:
    platform = make_platform(SERVICES)
    platform.publish(invoice("e1", "default", person("C1", "Ana Pérez", "ana@example.co")), Topics.INBOUND)
    platform.publish(invoice("e1", "other", person("C1", "Otra Persona", "otra@example.co")), Topics.INBOUND)
    platform.run_until_quiet()
    url = platform.context("ingest").engine.url.render_as_string(hide_password=False)

    exported = export_customer([load_spec(s) for s in SERVICES], url, "default", "C1")

    assert exported["account_ids"] == ["A1"]
    text = json.dumps(exported, ensure_ascii=False)
    assert "ana@example.co" in text and "Ana Pérez" in text
    assert "otra@example.co" not in text and "Otra Persona" not in text
    held = exported["services"]
    assert {"aging", "reconciliation", "reporting"} <= {s for s, tables in held.items() if tables}
    assert [r["invoice_id"] for r in held["aging"]["invoices"]] == ["I1"]
    assert all(
        r["tenant_id"] == "default" for tables in held.values() for rows in tables.values() for r in rows
    )


def test_the_cli_prints_the_export_as_json(make_platform, monkeypatch) -> None:
    from typer.testing import CliRunner

    from libs.platform.cli import app

    platform = make_platform(SERVICES)
    platform.publish(invoice("e1", "t2", person("C9", "Luis Gómez", "luis@example.co")), Topics.INBOUND)
    platform.run_until_quiet()
    monkeypatch.setenv(
        "DATABASE_URL", platform.context("ingest").engine.url.render_as_string(hide_password=False)
    )

    result = CliRunner().invoke(app, ["privacy", "export", "C9", "--tenant", "t2"])

    assert result.exit_code == 0, result.output
    exported = json.loads(result.output)
    assert (exported["tenant"], exported["customer_id"], exported["account_ids"]) == ("t2", "C9", ["A1"])
    assert "luis@example.co" in result.output
