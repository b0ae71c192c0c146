"""reconciliation on the in-memory platform: contract events in on their catalog topics, allocations out."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.events.registry import model_for
from libs.runtime.http import create_app
from services.reconciliation.adapters.orm import audit, invoices

_ids = itertools.count(1)


def customer(name: str = "Ana Gómez") -> dict[str, Any]:
    return {
        "customer_id": "C1",
        "name": name,
        "kind": "person",
        "country": "CO",
        "timezone": "America/Bogota",
    }


def invoice(
    invoice_id: str,
    amount: str,
    due_on: str,
    *,
    account: str = "A1",
    currency: str = "COP",
    policy: str | None = None,
    name: str = "Ana Gómez",
) -> tuple[str, dict[str, Any]]:
    data: dict[str, Any] = {
        "invoice_id": invoice_id,
        "account_id": account,
        "customer": customer(name),
        "amount": amount,
        "currency": currency,
        "issued_on": "2026-01-01",
        "due_on": due_on,
        "product_line": "auto",
    }
    if policy:
        data["policy_number"] = policy
    return "cobranza.invoice.issued", data


def payment(
    payment_id: str,
    amount: str,
    *,
    account: str | None = "A1",
    currency: str = "COP",
    reference: str | None = None,
    payer: str | None = None,
    on: str = "2026-01-10",
) -> tuple[str, dict[str, Any]]:
    data: dict[str, Any] = {
        "payment_id": payment_id,
        "amount": amount,
        "currency": currency,
        "received_on": on,
    }
    if account:
        data["account_id"] = account
    if reference:
        data["reference"] = reference
    if payer:
        data["payer_name"] = payer
    return "cobranza.payment.received", data


def reversal(payment_id: str, account: str | None = "A1") -> tuple[str, dict[str, Any]]:
    data: dict[str, Any] = {"payment_id": payment_id, "reversed_on": "2026-01-20", "reason": "bounced_cheque"}
    if account:
        data["account_id"] = account
    return "cobranza.payment.reversed", data


def feed(platform: Any, *events: tuple[str, dict[str, Any]], tenant: str = "default") -> None:
    for event_type, data in events:
        platform.publish(
            Envelope(
                id=f"e{next(_ids)}",
                source="/cobranza/ingest",
                type=event_type,
                time=datetime(2026, 1, 10, 15, tzinfo=UTC),
                subject=data.get("account_id") or data.get("customer_id"),
                data=data,
                tenantid=tenant,
            ),
            model_for(event_type).topic,
        )
    platform.run_until_quiet()


def allocations_out(platform: Any) -> list[dict[str, Any]]:
    out = []
    for published in platform.broker.topics[Topics.ALLOCATIONS]:
        envelope = json.loads(published.record.value)
        out.append({"type": envelope["type"], "key": published.record.key, **envelope["data"]})
    return out


def open_amounts(platform: Any) -> dict[str, Decimal]:
    with platform.context("reconciliation").sessions() as session:
        return {r.invoice_id: r.open_amount for r in session.execute(select(invoices)).all()}


def test_payment_by_reference_partial_then_rest(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(platform, invoice("I1", "100000", "2026-01-05"), invoice("I2", "50000", "2026-01-20"))
    feed(platform, payment("P1", "30000", reference="I2"), payment("P2", "20000", reference="I2"))
    events = allocations_out(platform)
    assert [e["rule"] for e in events] == ["reference", "reference"]
    first, second = (e["allocations"] for e in events)
    assert [
        (a["invoice_id"], Decimal(a["amount"]), Decimal(a["invoice_open_amount_after"])) for a in first
    ] == [("I2", Decimal("30000"), Decimal("20000"))]
    assert [
        (a["invoice_id"], Decimal(a["amount"]), Decimal(a["invoice_open_amount_after"])) for a in second
    ] == [("I2", Decimal("20000"), Decimal("0"))]
    assert events[0]["key"] == b"A1"
    assert open_amounts(platform) == {"I1": Decimal("100000"), "I2": Decimal("0")}


def test_overpayment_becomes_credit_applied_to_next_invoice(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(platform, invoice("I1", "100", "2026-01-05"), payment("P1", "150"))
    first = allocations_out(platform)[-1]
    assert (first["rule"], Decimal(first["credit_created"]), Decimal(first["credit_balance_after"])) == (
        "oldest_first",
        Decimal("50"),
        Decimal("50"),
    )
    feed(platform, invoice("I2", "80", "2026-02-05"))
    applied = allocations_out(platform)[-1]
    assert applied["type"] == "cobranza.payment.applied"
    assert (applied["payment_id"], applied["rule"]) == ("P1", "credit_balance")
    assert Decimal(applied["allocations"][0]["amount"]) == 50
    assert Decimal(applied["allocations"][0]["invoice_open_amount_after"]) == 30
    assert Decimal(applied["credit_balance_after"]) == 0
    assert open_amounts(platform)["I2"] == Decimal("30")


def test_reversal_reopens_invoices_and_consumed_credit(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(
        platform, invoice("I1", "100", "2026-01-05"), payment("P1", "150"), invoice("I2", "80", "2026-02-05")
    )
    feed(platform, reversal("P1"))
    event = allocations_out(platform)[-1]
    assert event["type"] == "cobranza.payment.reversal_applied"
    reopened = {
        r["invoice_id"]: (Decimal(r["amount"]), Decimal(r["invoice_open_amount_after"]))
        for r in event["reopened"]
    }
    assert reopened == {"I1": (Decimal("100"), Decimal("100")), "I2": (Decimal("50"), Decimal("80"))}
    assert Decimal(event["credit_balance_after"]) == 0
    assert open_amounts(platform) == {"I1": Decimal("100"), "I2": Decimal("80")}
    feed(platform, reversal("P1"))  # a second reversal changes nothing
    assert allocations_out(platform)[-1] == event


def test_multi_currency_balances_never_mix(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(platform, invoice("I1", "100", "2026-01-05", currency="USD"), invoice("I2", "100", "2026-01-06"))
    feed(platform, payment("P1", "120", currency="USD"))
    client = TestClient(create_app(platform.context("reconciliation")))
    statement = client.get("/v1/accounts/A1/statement").json()
    balances = {b["currency"]: b for b in statement["balances"]}
    assert Decimal(balances["USD"]["credit_balance"]) == 20
    assert Decimal(balances["USD"]["open_amount"]) == 0
    assert Decimal(balances["COP"]["open_amount"]) == 100
    assert Decimal(balances["COP"]["balance"]) == 100
    assert [p["payment_id"] for p in statement["payments"]] == ["P1"]
    assert client.get("/v1/accounts/NOPE/statement").status_code == 404


def test_tolerance_from_simulator_config_dir(make_platform, tmp_path: Path) -> None:
    platform = make_platform(["reconciliation"])
    (tmp_path / "reconciliation.yaml").write_text(
        'tenants:\n  default:\n    COP:\n      absolute: "5000"\n', encoding="utf-8"
    )
    platform.context("reconciliation").extras["config_dir"] = tmp_path
    feed(platform, invoice("I1", "1000000", "2026-01-05"), payment("P1", "996000", reference="I1"))
    event = allocations_out(platform)[-1]
    assert (event["rule"], event["matched_by"], Decimal(event["written_off"])) == (
        "tolerance",
        "reference",
        4000,
    )
    assert open_amounts(platform)["I1"] == 0


def test_shipped_tolerance_does_not_cover_large_shortfall(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(platform, invoice("I1", "1000000", "2026-01-05"), payment("P1", "996000", reference="I1"))
    event = allocations_out(platform)[-1]
    assert event["rule"] == "reference" and "written_off" not in event
    assert open_amounts(platform)["I1"] == Decimal("4000")


def test_unidentified_payment_by_normalized_policy_number(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(platform, invoice("I1", "300", "2026-01-05", account="A7", policy="POL-000123"))
    feed(platform, payment("P1", "300", account=None, reference="pol 123"))
    event = allocations_out(platform)[-1]
    assert (event["account_id"], event["rule"]) == ("A7", "normalized_reference")


def test_suspense_candidates_manual_apply_and_audit(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(
        platform,
        invoice("I1", "250000", "2026-01-12", account="A1", name="María Fernanda López"),
        invoice("I2", "90000", "2026-03-01", account="A2", name="Transportes del Valle SAS"),
        payment("P9", "250000", account=None, reference="consignación", payer="MARIA F LOPEZ"),
    )
    unapplied = allocations_out(platform)[-1]
    assert unapplied["type"] == "cobranza.payment.unapplied"
    assert (unapplied["reason"], unapplied["key"]) == ("unidentified_account", b"unidentified:P9")

    client = TestClient(create_app(platform.context("reconciliation")))
    queue = client.get("/v1/suspense").json()
    assert [q["payment_id"] for q in queue] == ["P9"]
    candidates = client.get("/v1/suspense/P9/candidates").json()
    assert candidates[0]["account_id"] == "A1"
    assert candidates[0]["amount_score"] == 1.0 and candidates[0]["invoice_id"] == "I1"
    assert candidates[0]["score"] > candidates[1]["score"]
    assert client.get("/v1/suspense/NOPE/candidates").status_code == 404

    bad = client.post("/v1/suspense/P9/apply", json={"account_id": "A1", "invoice_id": "I2", "reason": "x"})
    assert bad.status_code == 422
    paths = {tuple(d["loc"]) for d in bad.json()["detail"]}
    assert ("body", "user") in paths and ("body", "reason") in paths
    wrong = client.post(
        "/v1/suspense/P9/apply",
        json={"account_id": "A1", "invoice_id": "I2", "reason": "bank call", "user": "ops1"},
    )
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"] == ["body", "invoice_id"]

    ok = client.post(
        "/v1/suspense/P9/apply",
        json={"account_id": "A1", "invoice_id": "I1", "reason": "payer confirmed by phone", "user": "ops1"},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["rule"] == "manual"
    platform.run_until_quiet()
    applied = allocations_out(platform)[-1]
    assert (applied["type"], applied["rule"], applied["account_id"]) == (
        "cobranza.payment.applied",
        "manual",
        "A1",
    )
    assert client.get("/v1/suspense").json() == []
    again = client.post("/v1/suspense/P9/apply", json={"account_id": "A1", "reason": "twice", "user": "ops1"})
    assert again.status_code == 409

    trail = client.get("/v1/audit").json()
    assert len(trail) == 1
    assert (trail[0]["user"], trail[0]["reason"], trail[0]["payment_id"]) == (
        "ops1",
        "payer confirmed by phone",
        "P9",
    )
    assert trail[0]["at"].startswith("2026-01-01")
    with platform.context("reconciliation").sessions() as session:
        assert session.execute(select(audit.c.action)).scalars().all() == ["suspense.apply"]
    assert open_amounts(platform)["I1"] == 0


def test_cancelled_invoice_frees_payment_as_credit(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(platform, invoice("I1", "100", "2026-01-05"), payment("P1", "100", reference="I1"))
    feed(
        platform,
        (
            "cobranza.invoice.cancelled",
            {
                "invoice_id": "I1",
                "account_id": "A1",
                "reason": "issued_in_error",
                "cancelled_on": "2026-01-11",
            },
        ),
    )
    event = allocations_out(platform)[-1]
    assert (event["rule"], Decimal(event["credit_created"]), Decimal(event["credit_balance_after"])) == (
        "credit_balance",
        Decimal("100"),
        Decimal("100"),
    )
    feed(platform, invoice("I2", "60", "2026-02-05"))
    assert open_amounts(platform)["I2"] == 0


def test_reversal_of_unknown_payment_is_dead_lettered(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(platform, reversal("GHOST"))
    letters = platform.broker.topics[Topics.DEAD_LETTER]
    assert len(letters) == 1 and "data.payment_id" in letters[0].headers["dlq_reason"]


def test_settings_file_overrides_shipped_tolerance(make_platform, tmp_path: Path, monkeypatch) -> None:
    override = tmp_path / "tol.yaml"
    override.write_text(
        'tolerances:\n  default:\n    COP:\n      absolute: "10"\n      ratio: null\n', encoding="utf-8"
    )
    monkeypatch.setenv("COBRANZA_RECONCILIATION_TOLERANCES_FILE", str(override))
    platform = make_platform(["reconciliation"])
    feed(platform, invoice("I1", "1000", "2026-01-05"), payment("P1", "995", reference="I1"))
    feed(platform, invoice("I2", "1000", "2026-01-05"), payment("P2", "980", reference="I2"))
    first, second = allocations_out(platform)
    assert (first["rule"], Decimal(first["written_off"])) == ("tolerance", Decimal("5"))
    assert second["rule"] == "reference" and "written_off" not in second


def test_payment_redelivered_under_a_new_event_id_is_applied_once(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(platform, invoice("I1", "100", "2026-01-05"))
    _, data = payment("P1", "60")
    for event_id in ("x1", "x2"):
        platform.publish(
            Envelope(
                id=event_id,
                source="/core/bank",
                type="cobranza.payment.received",
                time=datetime(2026, 1, 10, 15, tzinfo=UTC),
                subject="A1",
                data=data,
            ),
            Topics.PAYMENTS,
        )
    platform.run_until_quiet()
    assert len(allocations_out(platform)) == 1
    assert open_amounts(platform)["I1"] == Decimal("40")
