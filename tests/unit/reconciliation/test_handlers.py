"""reconciliation on the in-memory platform: contract events in on their catalog topics, allocations out.

Matching, credit, reversals and the API; suspense that resolves itself when the invoice or
customer link arrives; tenants that never meet; canonical ids of two sources; open vocabularies.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from support.batches import counted_statements

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.events.registry import model_for
from services.reconciliation.adapters.orm import (
    accounts,
    audit,
    credits,
    invoices,
    payments,
    suspense_references,
)
from tests.support.auth import api_client

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
    client = api_client(platform.context("reconciliation"))
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

    client = api_client(platform.context("reconciliation"))
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


def customer_link(
    customer_id: str, *account_ids: str, timezone: str = "America/Bogota"
) -> tuple[str, dict[str, Any]]:
    return "cobranza.customer.upserted", {
        "customer_id": customer_id,
        "account_ids": list(account_ids),
        "name": "Ana Gómez",
        "kind": "person",
        "country": "CO",
        "timezone": timezone,
    }


def payment_rows(platform: Any, tenant: str = "default") -> dict[str, Any]:
    with platform.context("reconciliation").sessions() as session:
        rows = session.execute(select(payments).where(payments.c.tenant_id == tenant)).all()
    return {r.payment_id: r for r in rows}


def test_payment_for_an_account_nobody_knows_goes_to_suspense(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(platform, invoice("I1", "100", "2026-01-05", account="A1"), payment("P1", "70", account="A9"))
    event = allocations_out(platform)[-1]
    assert (event["type"], event["reason"], event["key"]) == (
        "cobranza.payment.unapplied",
        "unidentified_account",
        b"unidentified:P1",
    )
    assert "account_id" not in event
    row = payment_rows(platform)["P1"]
    assert (row.status, row.account_id, row.claimed_account_id) == ("suspense", None, "A9")
    with platform.context("reconciliation").sessions() as session:
        assert session.execute(select(credits)).all() == []  # never credit on a phantom account
        known = dict(session.execute(select(accounts.c.account_id, accounts.c.known)).all())
    assert known == {"A1": True, "A9": False}
    client = api_client(platform.context("reconciliation"))
    assert client.get("/v1/accounts/A9/statement").status_code == 404
    assert [(q["payment_id"], q["claimed_account_id"]) for q in client.get("/v1/suspense").json()] == [
        ("P1", "A9")
    ]


def test_invoice_arriving_later_places_the_parked_payment(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(platform, payment("P1", "60", account="A9", on="2026-01-10"))
    feed(platform, invoice("I9", "100", "2026-02-05", account="A9"))
    event = allocations_out(platform)[-1]
    assert (event["type"], event["payment_id"], event["account_id"], event["rule"]) == (
        "cobranza.payment.applied",
        "P1",
        "A9",
        "oldest_first",
    )
    assert event["key"] == b"A9"
    assert [
        (a["invoice_id"], Decimal(a["amount"]), Decimal(a["invoice_open_amount_after"]))
        for a in event["allocations"]
    ] == [("I9", Decimal("60"), Decimal("40"))]
    assert Decimal(event["credit_balance_after"]) == 0
    assert (
        event["applied_on"] == "2026-01-10"
    )  # the invoice was issued 2026-01-01: the money counts from receipt
    row = payment_rows(platform)["P1"]
    assert (row.status, row.account_id, row.rule) == ("applied", "A9", "oldest_first")
    client = api_client(platform.context("reconciliation"))
    assert client.get("/v1/suspense").json() == []
    balances = client.get("/v1/accounts/A9/statement").json()["balances"]
    assert [(b["currency"], Decimal(b["balance"])) for b in balances] == [("COP", Decimal("40"))]


def test_invoice_named_in_a_remittance_places_a_payment_without_account(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(platform, invoice("I1", "500", "2026-01-05", account="A1", policy="VIDA-9"))
    feed(platform, payment("P1", "300", account=None, reference="PAGO POLIZA AUTO-0077 CUOTA 3"))
    assert allocations_out(platform)[-1]["reason"] == "unidentified_account"
    with platform.context("reconciliation").sessions() as session:
        keys = set(session.execute(select(suspense_references.c.reference_key)).scalars())
    assert {"auto77", "polizaauto77", "pagopolizaauto77"} <= keys
    feed(platform, invoice("I7", "300", "2026-01-20", account="A7", policy="AUTO-77"))
    event = allocations_out(platform)[-1]
    assert (event["type"], event["payment_id"], event["account_id"], event["rule"]) == (
        "cobranza.payment.applied",
        "P1",
        "A7",
        "normalized_reference",
    )
    assert Decimal(event["allocations"][0]["invoice_open_amount_after"]) == 0
    with platform.context("reconciliation").sessions() as session:
        assert session.execute(select(suspense_references)).all() == []


def test_invoice_of_another_account_does_not_place_a_payment_that_named_its_account(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(platform, payment("P1", "60", account="A9", reference="I5"))
    feed(platform, invoice("I5", "60", "2026-01-05", account="A1"))
    assert payment_rows(platform)["P1"].status == "suspense"
    assert allocations_out(platform)[-1]["type"] == "cobranza.payment.unapplied"


def test_still_ambiguous_reference_stays_in_suspense(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(platform, invoice("I1", "100", "2026-01-05", account="A1", policy="POL-1"))
    feed(platform, invoice("I2", "100", "2026-01-05", account="A2", policy="POL-1"))
    feed(platform, payment("P1", "100", account=None, reference="POL-1"))
    assert allocations_out(platform)[-1]["reason"] == "ambiguous_reference"
    feed(platform, invoice("I3", "100", "2026-01-05", account="A3", policy="POL-1"))
    assert payment_rows(platform)["P1"].status == "suspense"


def test_customer_link_places_parked_payments_as_credit_then_invoice_uses_it(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(platform, payment("P1", "40", account="A5"), payment("P2", "25", account="A6"))
    feed(platform, customer_link("C5", "A5", "A6"))
    applied = [e for e in allocations_out(platform) if e["type"] == "cobranza.payment.applied"]
    assert [
        (
            e["payment_id"],
            e["account_id"],
            e["rule"],
            Decimal(e["credit_created"]),
            Decimal(e["credit_balance_after"]),
        )
        for e in applied
    ] == [
        ("P1", "A5", "credit_balance", Decimal("40"), Decimal("40")),
        ("P2", "A6", "credit_balance", Decimal("25"), Decimal("25")),
    ]
    assert applied[0]["applied_on"] == "2026-01-10"
    feed(platform, invoice("I5", "100", "2026-02-05", account="A5"))
    used = allocations_out(platform)[-1]
    assert (used["payment_id"], used["rule"], Decimal(used["credit_balance_after"])) == (
        "P1",
        "credit_balance",
        0,
    )
    assert Decimal(used["allocations"][0]["invoice_open_amount_after"]) == 60
    feed(platform, customer_link("C5", "A5", "A6"))  # the same link again changes nothing
    assert allocations_out(platform)[-1] == used


def test_customer_without_accounts_changes_nothing(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(platform, payment("P1", "40", account="A5"), customer_link("C5"))
    assert payment_rows(platform)["P1"].status == "suspense"


def test_reversal_of_a_rematched_payment(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(platform, payment("P1", "150", account="A9"))
    feed(platform, invoice("I9", "100", "2026-02-05", account="A9"))
    placed = allocations_out(platform)[-1]
    assert (placed["rule"], Decimal(placed["credit_created"]), Decimal(placed["credit_balance_after"])) == (
        "oldest_first",
        Decimal("50"),
        Decimal("50"),
    )
    feed(platform, reversal("P1", account="A9"))
    event = allocations_out(platform)[-1]
    assert (event["type"], event["account_id"]) == ("cobranza.payment.reversal_applied", "A9")
    assert [
        (r["invoice_id"], Decimal(r["amount"]), Decimal(r["invoice_open_amount_after"]))
        for r in event["reopened"]
    ] == [("I9", Decimal("100"), Decimal("100"))]
    assert (Decimal(event["credit_removed"]), Decimal(event["credit_balance_after"])) == (Decimal("50"), 0)
    assert payment_rows(platform)["P1"].status == "reversed"


def test_reversal_of_a_parked_payment_leaves_nothing_to_place(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(platform, payment("P1", "80", account=None, reference="I4"))
    feed(platform, reversal("P1", account=None))
    event = allocations_out(platform)[-1]
    assert (event["type"], event["reopened"], "account_id" in event) == (
        "cobranza.payment.reversal_applied",
        [],
        False,
    )
    feed(platform, invoice("I4", "80", "2026-02-05", account="A4"))
    assert payment_rows(platform)["P1"].status == "reversed"
    assert allocations_out(platform)[-1]["type"] == "cobranza.payment.reversal_applied"


def test_two_tenants_with_the_same_ids_never_meet(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(platform, invoice("I1", "100", "2026-01-05"), payment("P1", "30", reference="I1"), tenant="acme")
    feed(platform, invoice("I1", "500", "2026-01-05"), payment("P1", "450", reference="I1"), tenant="globex")
    feed(platform, payment("P2", "10", account="A1"), tenant="initech")  # A1 is unknown in initech
    applied = [e for e in allocations_out(platform) if e["type"] == "cobranza.payment.applied"]
    assert [Decimal(e["allocations"][0]["invoice_open_amount_after"]) for e in applied] == [
        Decimal("70"),
        Decimal("50"),
    ]
    assert payment_rows(platform, "initech")["P2"].status == "suspense"
    feed(platform, reversal("P1"), tenant="acme")
    assert payment_rows(platform, "acme")["P1"].status == "reversed"
    assert payment_rows(platform, "globex")["P1"].status == "applied"

    client = api_client(platform.context("reconciliation"))

    def balance(tenant: str) -> Decimal:
        got = client.get("/v1/accounts/A1/statement", headers={"X-Cobranza-Tenant": tenant})
        assert got.status_code == 200, got.text
        return Decimal(got.json()["balances"][0]["balance"])

    assert (balance("acme"), balance("globex")) == (Decimal("100"), Decimal("50"))
    assert client.get("/v1/accounts/A1/statement").status_code == 404  # the default tenant has no A1
    assert (
        client.get("/v1/accounts/A1/statement", headers={"X-Cobranza-Tenant": "initech"}).status_code == 404
    )
    assert client.get("/v1/suspense", headers={"X-Cobranza-Tenant": "acme"}).json() == []
    assert [
        q["payment_id"] for q in client.get("/v1/suspense", headers={"X-Cobranza-Tenant": "initech"}).json()
    ] == ["P2"]
    assert client.get("/v1/suspense/P2/candidates", headers={"X-Cobranza-Tenant": "acme"}).status_code == 404
    other = client.post(
        "/v1/suspense/P2/apply",
        json={"account_id": "A1", "reason": "wrong tenant", "user": "ops"},
        headers={"X-Cobranza-Tenant": "acme"},
    )
    assert other.status_code == 404
    unknown_there = client.post(
        "/v1/suspense/P2/apply",
        json={"account_id": "A1", "reason": "A1 is acme's", "user": "ops"},
        headers={"X-Cobranza-Tenant": "initech"},
    )
    assert unknown_there.status_code == 422 and unknown_there.json()["detail"][0]["loc"] == [
        "body",
        "account_id",
    ]
    # a customer link in initech makes its A1 known there, and only there
    feed(platform, customer_link("C1", "A1"), tenant="initech")
    assert payment_rows(platform, "initech")["P2"].status == "applied"
    assert balance("globex") == Decimal("50")


def test_canonical_ids_of_two_sources_are_two_documents(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(
        platform,
        invoice("INV-1", "100", "2026-01-05", account="A1"),
        invoice("billing2:INV-1", "300", "2026-01-05", account="A2"),
        payment("PAY-1", "100", account=None, reference="INV-1"),
        payment("bank2:PAY-1", "300", account="A2", reference="billing2:INV-1"),
    )
    applied = [e for e in allocations_out(platform) if e["type"] == "cobranza.payment.applied"]
    assert [
        (e["payment_id"], e["account_id"], e["rule"], e["allocations"][0]["invoice_id"]) for e in applied
    ] == [
        ("PAY-1", "A1", "reference", "INV-1"),
        ("bank2:PAY-1", "A2", "reference", "billing2:INV-1"),
    ]
    feed(platform, reversal("bank2:PAY-1", account="A2"))
    rows = payment_rows(platform)
    assert (rows["PAY-1"].status, rows["bank2:PAY-1"].status) == ("applied", "reversed")


def test_unknown_method_label_is_money_all_the_same(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    _, data = payment("P1", "100")
    data["method"] = "Trueque Comunitario"
    feed(platform, invoice("I1", "100", "2026-01-05"), ("cobranza.payment.received", data))
    assert allocations_out(platform)[-1]["type"] == "cobranza.payment.applied"
    row = payment_rows(platform)["P1"]
    assert (row.method, row.method_detail) == ("other", "Trueque Comunitario")
    _, undo = reversal("P1")
    undo["reason"] = "Devuelto: cuenta embargada"
    feed(platform, ("cobranza.payment.reversed", undo))
    event = allocations_out(platform)[-1]
    assert (event["type"], event["reason"]) == ("cobranza.payment.reversal_applied", "other")
    assert payment_rows(platform)["P1"].status == "reversed"
    assert platform.broker.topics.get("cobranza.deadletter", []) == []


def test_bad_path_and_query_ids_are_422(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    client = api_client(platform.context("reconciliation"))
    assert client.get("/v1/accounts/A%001/statement").status_code == 422
    assert client.get("/v1/suspense/P%00/candidates").status_code == 422
    assert client.get("/v1/audit", params={"payment_id": "P\x00"}).status_code == 422
    assert client.get("/v1/accounts/" + "x" * 129 + "/statement").status_code == 422
    assert client.get("/v1/suspense", params={"offset": "9" * 20}).status_code == 422  # beyond bigint: no 500
    bad = client.post("/v1/suspense/P1/apply", json={"account_id": "A1", "reason": "no\x00pe", "user": "ops"})
    assert bad.status_code == 422 and ["body", "reason"] in [d["loc"] for d in bad.json()["detail"]]


def settled(event: dict[str, Any], key: str = "allocations") -> list[tuple[str, Decimal, Decimal]]:
    return [
        (a["invoice_id"], Decimal(a["invoice_open_amount_after"]), Decimal(a["invoice_settled_after"]))
        for a in event[key]
    ]


def test_every_allocation_and_reopened_invoice_says_what_is_settled(make_platform, tmp_path: Path) -> None:
    platform = make_platform(["reconciliation"])
    (tmp_path / "reconciliation.yaml").write_text(
        'tenants:\n  default:\n    COP:\n      absolute: "5000"\n', encoding="utf-8"
    )
    platform.context("reconciliation").extras["config_dir"] = tmp_path
    feed(platform, invoice("I1", "1000000", "2026-01-05"), invoice("I2", "80", "2026-01-20"))
    feed(
        platform,
        payment("P1", "996000", reference="I1"),  # 4000 written off: settled is cash plus write-off
        payment("P2", "130", reference="I2"),  # 50 left as credit
    )
    feed(platform, invoice("I3", "50", "2026-02-05"))  # paid by P2's credit
    feed(platform, invoice("I4", "100", "2026-02-10"))
    feed(platform, payment("P3", "100", reference="I4"))
    out = allocations_out(platform)
    assert [settled(e) for e in out] == [
        [("I1", Decimal(0), Decimal("1000000"))],
        [("I2", Decimal(0), Decimal("80"))],
        [("I3", Decimal(0), Decimal("50"))],
        [("I4", Decimal(0), Decimal("100"))],
    ]
    feed(
        platform,
        (
            "cobranza.invoice.adjusted",
            {
                "adjustment_id": "ADJ-1",
                "invoice_id": "I4",
                "account_id": "A1",
                "new_amount": "60",
                "currency": "COP",
                "reason": "discount",
                "effective_on": "2026-02-11",
            },
        ),
    )
    feed(platform, reversal("P1"), reversal("P2"))
    freed, p1, p2 = allocations_out(platform)[4:]
    assert (freed["payment_id"], Decimal(freed["credit_created"])) == ("P3", Decimal(40))
    assert settled(freed) == [("I4", Decimal(0), Decimal(60))]  # the credit note took 40 of P3's cash back
    assert settled(p1, "reopened") == [("I1", Decimal("1000000"), Decimal(0))]
    assert sorted(settled(p2, "reopened")) == [
        ("I2", Decimal(80), Decimal(0)),
        ("I3", Decimal(50), Decimal(0)),
    ]


def test_remittance_names_an_invoice_by_its_source_id(make_platform) -> None:
    """ingest minted ``billing2:INV-1`` because INV-1 was taken: the bank still writes INV-1."""
    platform = make_platform(["reconciliation"])
    billing2 = invoice("billing2:INV-1", "300", "2026-01-05", account="A2")
    billing2[1]["natural_id"] = "INV-1"
    feed(platform, billing2, payment("PAY-1", "200", account=None, reference="PAGO INV-1"))
    feed(platform, payment("PAY-2", "100", account="A2", reference="INV-1"))
    applied = [e for e in allocations_out(platform) if e["type"] == "cobranza.payment.applied"]
    assert [
        (e["payment_id"], e["account_id"], e["rule"], e["allocations"][0]["invoice_id"]) for e in applied
    ] == [
        ("PAY-1", "A2", "normalized_reference", "billing2:INV-1"),
        ("PAY-2", "A2", "reference", "billing2:INV-1"),
    ]
    # another source's own INV-1 arrives: "INV-1" now names two accounts' invoices and waits
    feed(platform, invoice("INV-1", "100", "2026-01-05", account="A1"))
    feed(platform, payment("PAY-3", "100", account=None, reference="INV-1"))
    parked = allocations_out(platform)[-1]
    assert (parked["type"], parked["payment_id"], parked["reason"]) == (
        "cobranza.payment.unapplied",
        "PAY-3",
        "ambiguous_reference",
    )
    assert payment_rows(platform)["PAY-3"].status == "suspense"


def test_a_parked_remittance_is_placed_by_the_source_id_of_a_new_invoice(make_platform) -> None:
    platform = make_platform(["reconciliation"])
    feed(platform, payment("PAY-1", "300", account=None, reference="PAGO FACTURA INV-7"))
    core2 = invoice("core2:INV-7", "300", "2026-01-05", account="A7")
    core2[1]["natural_id"] = "INV-7"
    feed(platform, core2)
    placed = allocations_out(platform)[-1]
    assert (placed["type"], placed["payment_id"], placed["account_id"]) == (
        "cobranza.payment.applied",
        "PAY-1",
        "A7",
    )
    assert settled(placed) == [("core2:INV-7", Decimal(0), Decimal(300))]


def test_a_batch_costs_the_same_statements_whatever_its_size(make_platform) -> None:
    """Set-based: the handler's SQL for a poll batch does not grow with the batch's events."""
    platform = make_platform(["reconciliation"])
    feed(platform, *(invoice(f"I{n}", "100", "2026-01-05", account=f"A{n}") for n in range(60)))
    engine = platform.context("reconciliation").engine

    def business(statement: str) -> bool:
        return not any(t in statement for t in ("inbox", "outbox", "timers"))

    with counted_statements(engine, keep=business) as statements:
        feed(platform, *(payment(f"P{n}", "140" if n == 1 else "40", account=f"A{n}") for n in range(3)))
        few = len(statements)
        statements.clear()
        # twenty accounts paid three times each: later payments see the earlier ones' effect
        feed(
            platform,
            *(payment(f"Q{n}-{k}", "40", account=f"A{n}") for k in range(3) for n in range(20, 40)),
        )
        many = len(statements)
    assert many == few
    assert open_amounts(platform)["I20"] == 0 and open_amounts(platform)["I0"] == 60
    q20 = [e for e in allocations_out(platform) if e["payment_id"].startswith("Q20-")]
    assert [(Decimal(e["amount_applied"]), settled(e)[0][1:]) for e in q20] == [
        (Decimal(40), (Decimal(60), Decimal(40))),
        (Decimal(40), (Decimal(20), Decimal(80))),
        (Decimal(20), (Decimal(0), Decimal(100))),
    ]
