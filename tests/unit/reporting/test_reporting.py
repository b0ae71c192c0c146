"""reporting projections, SQL views and API on the in-memory platform (reporting alone, events fed in).

Also: whole batches fold to what one event at a time leaves; settled amounts make open amounts
order-independent; never-aged accounts take the scheme file's first bucket.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from support.batches import table_rows

from libs.bucket_scheme import AGING_PACKAGED, first_bucket, tenant_buckets
from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from services.strategy.config import bucket_stages
from tests.support.auth import api_client

T0 = datetime(2026, 1, 14, 15, tzinfo=UTC)
_seq = itertools.count(1)

TOPIC = {
    "invoice": Topics.INVOICES,
    "payment.received": Topics.PAYMENTS,
    "payment.reversed": Topics.PAYMENTS,
    "payment.applied": Topics.ALLOCATIONS,
    "payment.unapplied": Topics.ALLOCATIONS,
    "payment.reversal_applied": Topics.ALLOCATIONS,
    "account": Topics.ACCOUNTS,
    "promise": Topics.PROMISES,
    "contact": Topics.CONTACTS,
}


def send(
    platform: Any,
    event_type: str,
    data: dict[str, Any],
    *,
    tenant: str = "default",
    at: datetime = T0,
    cause: str | None = None,
    event_id: str | None = None,
) -> str:
    short = event_type.removeprefix("cobranza.")
    topic = TOPIC.get(short) or TOPIC[short.split(".")[0]]
    envelope = Envelope(
        id=event_id or f"r{next(_seq)}",
        source="/test",
        type=event_type,
        time=at,
        subject=data.get("account_id") or data.get("payment_id"),
        data=data,
        tenantid=tenant,
        causationid=cause,
    )
    platform.publish(envelope, topic)
    platform.run_until_quiet()
    return envelope.id


def invoice(
    inv: str,
    account: str,
    amount: str,
    line: str = "auto",
    advisor: str = "ADV1",
    issued: str = "2026-01-05",
    currency: str = "COP",
) -> dict[str, Any]:
    return {
        "invoice_id": inv,
        "account_id": account,
        "customer": {
            "customer_id": f"C{account}",
            "name": "X",
            "kind": "person",
            "country": "CO",
            "timezone": "America/Bogota",
        },
        "amount": amount,
        "currency": currency,
        "issued_on": issued,
        "due_on": "2026-01-20",
        "product_line": line,
        "advisor_id": advisor,
        "office_id": "BOG",
        "agency_id": "AG1",
    }


def applied(
    payment: str,
    account: str,
    allocations: list[tuple[str, str, str]],
    *,
    credit_after: str = "0",
    credit_created: str = "0",
    currency: str = "COP",
    rule: str = "oldest_first",
) -> dict[str, Any]:
    return {
        "payment_id": payment,
        "account_id": account,
        "currency": currency,
        "amount_applied": str(sum(Decimal(a) for _, a, _ in allocations)),
        "allocations": [
            {"invoice_id": i, "amount": a, "invoice_open_amount_after": after} for i, a, after in allocations
        ],
        "credit_created": credit_created,
        "credit_balance_after": credit_after,
        "rule": rule,
        "applied_on": "2026-01-10",
    }


def unapplied(payment: str, amount: str, currency: str = "COP") -> dict[str, Any]:
    return {
        "payment_id": payment,
        "amount": amount,
        "currency": currency,
        "reason": "unidentified_account",
        "received_on": "2026-01-09",
    }


def reversal_applied(
    payment: str, account: str | None, reopened: list[tuple[str, str, str]], credit_after: str = "0"
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "payment_id": payment,
        "currency": "COP",
        "reopened": [
            {"invoice_id": i, "amount": a, "invoice_open_amount_after": after} for i, a, after in reopened
        ],
        "credit_balance_after": credit_after,
        "reversed_on": "2026-01-12",
        "reason": "bounced_cheque",
    }
    if account is not None:
        data["account_id"] = account
    return data


def received(payment: str, account: str | None, amount: str) -> dict[str, Any]:
    data = {"payment_id": payment, "amount": amount, "currency": "COP", "received_on": "2026-01-08"}
    if account is not None:
        data["account_id"] = account
    return data


def aged(
    account: str,
    bucket: str,
    dpd: int,
    currency: str = "COP",
    stage: str | None = None,
    previous: tuple[str, str] | None = None,
) -> dict:
    data: dict[str, Any] = {
        "account_id": account,
        "bucket": bucket,
        "days_past_due": dpd,
        "overdue_amount": "0",
        "currency": currency,
    }
    if stage is not None:
        data["stage"] = stage
    if previous is not None:
        data["previous_bucket"], data["previous_stage"] = previous
    return data


def client_for(platform: Any, tenant: str = "default") -> TestClient:
    return api_client(platform.context("reporting"), tenant=tenant)


def balances(platform: Any, account: str, tenant: str = "default") -> dict[str, dict[str, Any]]:
    response = client_for(platform, tenant).get(f"/v1/accounts/{account}/balances")
    assert response.status_code == 200, response.text
    return {b["currency"]: b for b in response.json()["balances"]}


def money(row: dict[str, Any], *names: str) -> tuple[Decimal, ...]:
    return tuple(Decimal(str(row[n])) for n in names)


def test_balances_come_from_allocations_not_raw_payments(make_platform) -> None:
    platform = make_platform(["reporting"])
    send(platform, "cobranza.invoice.issued", invoice("I1", "A1", "1000"))
    send(platform, "cobranza.payment.received", received("X1", "A1", "400"))
    assert money(balances(platform, "A1")["COP"], "open_amount", "balance") == (Decimal(1000), Decimal(1000))
    send(platform, "cobranza.payment.applied", applied("X1", "A1", [("I1", "400", "600")]))
    assert money(balances(platform, "A1")["COP"], "open_amount", "balance") == (Decimal(600), Decimal(600))
    kpi = client_for(platform).get("/v1/kpis/payments").json()
    assert [(k["currency"], k["payments"], Decimal(str(k["amount"]))) for k in kpi] == [
        ("COP", 1, Decimal(400))
    ]


def test_payment_matched_from_suspense_lowers_the_balance(make_platform) -> None:
    platform = make_platform(["reporting"])
    client = client_for(platform)
    send(platform, "cobranza.invoice.issued", invoice("I1", "A1", "1000"))
    send(platform, "cobranza.payment.received", received("X9", None, "250"))
    send(platform, "cobranza.payment.unapplied", unapplied("X9", "250"))
    assert [
        (s["currency"], s["payments"], Decimal(str(s["amount"]))) for s in client.get("/v1/suspense").json()
    ] == [("COP", 1, Decimal(250))]
    assert money(balances(platform, "A1")["COP"], "balance") == (Decimal(1000),)
    send(platform, "cobranza.payment.applied", applied("X9", "A1", [("I1", "250", "750")], rule="manual"))
    assert money(balances(platform, "A1")["COP"], "balance") == (Decimal(750),)
    assert client.get("/v1/suspense").json() == []


def test_unapplied_delivered_after_its_applied_does_not_reopen_suspense(make_platform) -> None:
    """unapplied is keyed ``unidentified:<payment>``, applied by account: different partitions."""
    platform = make_platform(["reporting"])
    send(platform, "cobranza.invoice.issued", invoice("I1", "A1", "1000"))
    send(platform, "cobranza.payment.applied", applied("X9", "A1", [("I1", "250", "750")], rule="manual"))
    send(platform, "cobranza.payment.unapplied", unapplied("X9", "250"))
    assert client_for(platform).get("/v1/suspense").json() == []
    with platform.context("reporting").sessions() as session:
        row = session.execute(
            text("SELECT state, suspense_amount FROM reporting.payment_states WHERE payment_id = 'X9'")
        ).one()
    assert (row.state, row.suspense_amount) == ("applied", Decimal(250))


def test_reversal_reopens_the_invoice_and_removes_the_credit(make_platform) -> None:
    platform = make_platform(["reporting"])
    send(platform, "cobranza.invoice.issued", invoice("I1", "A1", "1000"))
    send(
        platform,
        "cobranza.payment.applied",
        applied("X1", "A1", [("I1", "1000", "0")], credit_after="200", credit_created="200"),
    )
    assert money(balances(platform, "A1")["COP"], "open_amount", "credit_balance", "balance") == (
        Decimal(0),
        Decimal(200),
        Decimal(-200),
    )
    send(
        platform, "cobranza.payment.reversal_applied", reversal_applied("X1", "A1", [("I1", "1000", "1000")])
    )
    assert money(balances(platform, "A1")["COP"], "open_amount", "credit_balance", "balance") == (
        Decimal(1000),
        Decimal(0),
        Decimal(1000),
    )
    # a suspense payment reversed: out of suspense, no account touched
    send(platform, "cobranza.payment.unapplied", unapplied("X2", "90"))
    send(platform, "cobranza.payment.reversal_applied", reversal_applied("X2", None, []))
    assert client_for(platform).get("/v1/suspense").json() == []


def test_overpayment_shows_as_credit_not_floored(make_platform) -> None:
    platform = make_platform(["reporting"])
    send(platform, "cobranza.invoice.issued", invoice("I1", "A1", "100.50"))
    send(
        platform,
        "cobranza.payment.applied",
        applied("X1", "A1", [("I1", "100.50", "0")], credit_after="49.5", credit_created="49.5"),
    )
    row = balances(platform, "A1")["COP"]
    assert money(row, "open_amount", "credit_balance", "balance") == (
        Decimal(0),
        Decimal("49.5"),
        Decimal("-49.5"),
    )
    portfolio = client_for(platform).get("/v1/portfolio", params={"group_by": "product_line"}).json()["rows"]
    assert [(r["product_line"], Decimal(str(r["balance"]))) for r in portfolio] == [
        ("auto", Decimal("-49.5"))
    ]


def test_two_currencies_on_one_account_are_kept_apart(make_platform) -> None:
    platform = make_platform(["reporting"])
    send(platform, "cobranza.invoice.issued", invoice("I1", "A1", "1000"))
    send(platform, "cobranza.invoice.issued", invoice("I2", "A1", "300", currency="USD", line="vida"))
    send(platform, "cobranza.account.aged", aged("A1", "dpd_31_60", 40, currency="USD", stage="early"))
    send(
        platform,
        "cobranza.payment.applied",
        applied("X1", "A1", [("I2", "300", "0")], currency="USD", credit_after="20", credit_created="20"),
    )
    rows = balances(platform, "A1")
    # never aged: the scheme's first bucket (aging's default buckets.yaml)
    assert (rows["COP"]["bucket"], rows["COP"]["stage"], rows["COP"]["product_line"]) == (
        "current",
        "current",
        "auto",
    )
    assert money(rows["COP"], "open_amount", "credit_balance", "balance") == (
        Decimal(1000),
        Decimal(0),
        Decimal(1000),
    )
    assert (rows["USD"]["bucket"], rows["USD"]["stage"], rows["USD"]["product_line"]) == (
        "dpd_31_60",
        "early",
        "vida",
    )
    assert money(rows["USD"], "open_amount", "credit_balance", "balance") == (
        Decimal(0),
        Decimal(20),
        Decimal(-20),
    )
    # USD turning current does not touch the COP bucket
    send(platform, "cobranza.account.aged", aged("A1", "al_dia", 0, currency="USD", stage="current"))
    send(platform, "cobranza.account.aged", aged("A1", "mora_temprana", 3, currency="COP", stage="early"))
    rows = balances(platform, "A1")
    assert (rows["USD"]["bucket"], rows["COP"]["bucket"]) == ("al_dia", "mora_temprana")
    by_bucket = client_for(platform).get("/v1/portfolio", params={"group_by": "bucket,stage"}).json()["rows"]
    assert [(r["bucket"], r["stage"], r["currency"], Decimal(str(r["balance"]))) for r in by_bucket] == [
        ("al_dia", "current", "USD", Decimal(-20)),
        ("mora_temprana", "early", "COP", Decimal(1000)),
    ]


def test_never_announced_accounts_take_the_first_bucket_aging_revealed(make_platform) -> None:
    """Aging announces changes only: a never-aged account starts in the scheme file's first bucket,
    and what aging's events reveal about the first bucket wins over the file."""
    platform = make_platform(["reporting"])
    for tenant in ("aseguradora_x", "banco_y"):
        send(platform, "cobranza.invoice.issued", invoice("I1", "A1", "100"), tenant=tenant)
        send(platform, "cobranza.invoice.issued", invoice("I2", "A2", "200"), tenant=tenant)
    a2 = balances(platform, "A2", "aseguradora_x")["COP"]
    assert (a2["bucket"], a2["stage"]) == ("current", "current")  # the default scheme's first bucket
    send(
        platform,
        "cobranza.account.aged",
        aged("A1", "mora_30", 12, stage="early", previous=("al_dia", "current")),
        tenant="aseguradora_x",
    )
    a2 = balances(platform, "A2", "aseguradora_x")["COP"]
    assert (a2["bucket"], a2["stage"]) == ("al_dia", "current")
    assert balances(platform, "A1", "aseguradora_x")["COP"]["bucket"] == "mora_30"
    assert balances(platform, "A2", "banco_y")["COP"]["bucket"] == "current"  # another tenant: its own
    # a later move between two announced buckets says nothing about the first one
    send(
        platform,
        "cobranza.account.aged",
        aged("A1", "mora_60", 40, stage="late", previous=("mora_30", "early")),
        tenant="aseguradora_x",
    )
    assert balances(platform, "A2", "aseguradora_x")["COP"]["bucket"] == "al_dia"
    # 0 days past due is only ever in the first bucket
    send(platform, "cobranza.account.aged", aged("A1", "corriente", 0, stage="current"), tenant="banco_y")
    assert balances(platform, "A2", "banco_y")["COP"]["bucket"] == "corriente"
    # a later batch reading the scheme file again does not undo what the events revealed
    send(platform, "cobranza.invoice.issued", invoice("I3", "A3", "300"), tenant="banco_y")
    assert balances(platform, "A3", "banco_y")["COP"]["bucket"] == "corriente"


def test_two_tenants_with_the_same_ids_are_kept_apart(make_platform) -> None:
    platform = make_platform(["reporting"])
    send(platform, "cobranza.invoice.issued", invoice("I1", "A1", "1000"), tenant="aseguradora_x")
    send(platform, "cobranza.invoice.issued", invoice("I1", "A1", "500", line="vida"), tenant="banco_y")
    send(
        platform,
        "cobranza.payment.applied",
        applied("X1", "A1", [("I1", "100", "900")]),
        tenant="aseguradora_x",
    )
    send(platform, "cobranza.payment.unapplied", unapplied("X7", "70"), tenant="banco_y")
    assert money(balances(platform, "A1", "aseguradora_x")["COP"], "balance") == (Decimal(900),)
    assert money(balances(platform, "A1", "banco_y")["COP"], "balance") == (Decimal(500),)
    assert client_for(platform).get("/v1/accounts/A1/balances").status_code == 404
    assert client_for(platform, "aseguradora_x").get("/v1/suspense").json() == []
    assert len(client_for(platform, "banco_y").get("/v1/suspense").json()) == 1
    lines = client_for(platform, "banco_y").get("/v1/portfolio", params={"group_by": "product_line"}).json()
    assert [(r["product_line"], r["accounts"]) for r in lines["rows"]] == [("vida", 1)]
    with platform.context("reporting").sessions() as session:
        views = session.execute(
            text("SELECT tenant_id, SUM(balance) FROM reporting.v_portfolio GROUP BY tenant_id ORDER BY 1")
        ).all()
    assert [(t, Decimal(b)) for t, b in views] == [("aseguradora_x", Decimal(900)), ("banco_y", Decimal(500))]


def test_a_late_older_allocation_never_overwrites_a_newer_state(make_platform) -> None:
    platform = make_platform(["reporting"])
    send(platform, "cobranza.invoice.issued", invoice("I1", "A1", "1000"))
    later = T0 + timedelta(minutes=5)
    send(
        platform,
        "cobranza.payment.applied",
        applied("X2", "A1", [("I1", "300", "400")], credit_after="0"),
        at=later,
    )
    send(
        platform,
        "cobranza.payment.applied",
        applied("X1", "A1", [("I1", "300", "700")], credit_after="5"),
        at=T0,
    )
    assert money(balances(platform, "A1")["COP"], "open_amount", "credit_balance") == (
        Decimal(400),
        Decimal(0),
    )
    send(platform, "cobranza.account.aged", aged("A1", "dpd_1_30", 5), at=later)
    send(platform, "cobranza.account.aged", aged("A1", "current", 0), at=T0)
    assert balances(platform, "A1")["COP"]["bucket"] == "dpd_1_30"


def test_allocation_before_its_invoice_and_redelivered_issue(make_platform) -> None:
    """Allocations and invoices travel on different topics: the allocation may come first."""
    platform = make_platform(["reporting"])
    send(platform, "cobranza.payment.applied", applied("X1", "A1", [("I1", "600", "400")]))
    assert money(balances(platform, "A1")["COP"], "open_amount") == (Decimal(400),)
    send(platform, "cobranza.invoice.issued", invoice("I1", "A1", "1000"))
    send(platform, "cobranza.invoice.issued", invoice("I1", "A1", "999"))  # re-sent: the first issue stands
    row = balances(platform, "A1")["COP"]
    assert money(row, "invoiced", "open_amount", "balance") == (Decimal(1000), Decimal(400), Decimal(400))
    assert row["product_line"] == "auto"


def test_adjustments_keep_what_was_settled_and_cancellation_closes(make_platform) -> None:
    platform = make_platform(["reporting"])
    send(platform, "cobranza.invoice.issued", invoice("I1", "A1", "1000"))
    send(platform, "cobranza.invoice.issued", invoice("I2", "A1", "500"))
    send(platform, "cobranza.payment.applied", applied("X1", "A1", [("I1", "400", "600")]))
    adjust = {
        "adjustment_id": "ADJ1",
        "invoice_id": "I1",
        "account_id": "A1",
        "new_amount": "1200",
        "currency": "COP",
        "reason": "endorsement",
        "effective_on": "2026-01-11",
    }
    send(platform, "cobranza.invoice.adjusted", adjust)
    assert money(balances(platform, "A1")["COP"], "invoiced", "open_amount") == (Decimal(1700), Decimal(1300))
    # reconciliation used credit for the grown invoice and its allocation overtook the adjustment
    adjust2 = dict(adjust, adjustment_id="ADJ2", new_amount="1500")
    send(
        platform,
        "cobranza.payment.applied",
        applied("X0", "A1", [("I1", "100", "1000")], rule="credit_balance"),
        cause="ev-adj2",
    )
    send(platform, "cobranza.invoice.adjusted", adjust2, event_id="ev-adj2")
    assert money(balances(platform, "A1")["COP"], "invoiced", "open_amount") == (Decimal(2000), Decimal(1500))
    cancel = {
        "invoice_id": "I2",
        "account_id": "A1",
        "reason": "issued_in_error",
        "cancelled_on": "2026-01-12",
    }
    send(platform, "cobranza.invoice.cancelled", cancel)
    assert money(balances(platform, "A1")["COP"], "invoiced", "open_amount") == (Decimal(1500), Decimal(1000))


def test_adjusting_an_unknown_or_foreign_invoice_is_dead_lettered(make_platform) -> None:
    platform = make_platform(["reporting"])
    send(platform, "cobranza.invoice.issued", invoice("I1", "A1", "1000"), tenant="t1")
    adjust = {
        "adjustment_id": "ADJ1",
        "invoice_id": "I1",
        "account_id": "A1",
        "new_amount": "10",
        "currency": "COP",
        "reason": "other",
        "effective_on": "2026-01-11",
    }
    send(platform, "cobranza.invoice.adjusted", adjust, tenant="t2")  # another tenant's invoice
    send(platform, "cobranza.invoice.adjusted", dict(adjust, currency="USD"), tenant="t1")
    dead = platform.broker.topics[Topics.DEAD_LETTER]
    assert len(dead) == 2
    assert money(balances(platform, "A1", "t1")["COP"], "open_amount") == (Decimal(1000),)


def test_promise_and_contact_kpis_per_tenant(make_platform) -> None:
    platform = make_platform(["reporting"])
    promise = {
        "account_id": "A1",
        "amount": "100",
        "currency": "COP",
        "due_on": "2026-01-20",
        "made_via": "agent",
    }
    resolved = {
        "account_id": "A1",
        "promised_amount": "100",
        "paid_amount": "100",
        "currency": "COP",
        "due_on": "2026-01-20",
    }
    for pid in ("P1", "P2", "P3"):
        send(platform, "cobranza.promise.made", dict(promise, promise_id=pid))
    send(platform, "cobranza.promise.made", dict(promise, promise_id="P1"), tenant="other")
    send(platform, "cobranza.promise.kept", dict(resolved, promise_id="P1"))
    send(platform, "cobranza.promise.broken", dict(resolved, promise_id="P2", paid_amount="0"))
    due = {
        "account_id": "A1",
        "scheduled_for": T0.isoformat(),
        "strategy": "default",
        "step": "s",
        "template": "t",
    }
    send(platform, "cobranza.contact.due", dict(due, contact_id="K1", channel="email"))
    send(platform, "cobranza.contact.due", dict(due, contact_id="K2", channel="sms"))
    outcome = {
        "contact_id": "K1",
        "account_id": "A1",
        "channel": "email",
        "status": "sent",
        "occurred_at": T0.isoformat(),
    }
    send(platform, "cobranza.contact.outcome", outcome)
    client = client_for(platform)
    kpis = client.get("/v1/kpis/promises").json()
    assert (kpis["made"], kpis["kept"], kpis["broken"], kpis["open"]) == (3, 1, 1, 1)
    assert Decimal(str(kpis["kept_rate"])) == Decimal("0.5")
    other = client_for(platform, "other").get("/v1/kpis/promises").json()
    assert (other["made"], other["open"]) == (1, 1)
    empty = client_for(platform, "nobody").get("/v1/kpis/promises").json()
    assert empty == {"made": 0, "kept": 0, "broken": 0, "open": 0, "kept_rate": None}
    assert client.get("/v1/kpis/contacts").json() == [
        {"channel": "email", "status": "sent", "contacts": 1},
        {"channel": "sms", "status": "due", "contacts": 1},
    ]


def test_portfolio_groups_validation_and_dashboard(make_platform) -> None:
    platform = make_platform(["reporting"])
    send(platform, "cobranza.invoice.issued", invoice("I1", "A1", "1000"))
    send(platform, "cobranza.invoice.issued", invoice("I2", "A2", "2000", line="vida", advisor="ADV2"))
    send(platform, "cobranza.account.aged", aged("A2", "dpd_1_30", 3, stage="early"))
    send(platform, "cobranza.payment.unapplied", unapplied("X5", "77"))
    client = client_for(platform)
    body = client.get("/v1/portfolio", params={"group_by": "bucket,product_line"}).json()
    rows = {
        (r["bucket"], r["product_line"]): (r["accounts"], Decimal(str(r["balance"]))) for r in body["rows"]
    }
    assert rows == {("current", "auto"): (1, Decimal(1000)), ("dpd_1_30", "vida"): (1, Decimal(2000))}
    bad = client.get("/v1/portfolio", params={"group_by": "bucket,colour"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "group_by"]
    assert client.get("/v1/accounts/A%00B/balances").status_code == 422
    page = client.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "dpd_1_30" in page.text and "2,000.00" in page.text and "sin clasificar" not in page.text
    assert "77.00" in page.text


def settled(data: dict[str, Any], *settled_after: str, key: str = "allocations") -> dict[str, Any]:
    """The same allocation event, as a reconciliation that fills ``invoice_settled_after`` sends it."""
    items = [dict(item, invoice_settled_after=s) for item, s in zip(data[key], settled_after, strict=True)]
    return dict(data, **{key: items})


ADJUST_TO_80 = {
    "adjustment_id": "ADJ1",
    "invoice_id": "I1",
    "account_id": "A1",
    "new_amount": "80",
    "currency": "COP",
    "reason": "endorsement",
    "effective_on": "2026-01-11",
}


def test_pay_30_on_100_then_adjust_to_80_owes_50_in_either_arrival_order(make_platform) -> None:
    """Reconciliation allocated 30 and then saw the adjustment, which freed no cash (nothing emitted)."""
    pay = settled(applied("X1", "A1", [("I1", "30", "70")]), "30")
    adjust_first = make_platform(["reporting"])
    send(adjust_first, "cobranza.invoice.issued", invoice("I1", "A1", "100"))
    send(adjust_first, "cobranza.invoice.adjusted", ADJUST_TO_80)
    send(adjust_first, "cobranza.payment.applied", pay)
    allocation_first = make_platform(["reporting"])
    send(allocation_first, "cobranza.invoice.issued", invoice("I1", "A1", "100"))
    send(allocation_first, "cobranza.payment.applied", pay)
    send(allocation_first, "cobranza.invoice.adjusted", ADJUST_TO_80)
    for platform in (adjust_first, allocation_first):
        row = balances(platform, "A1")["COP"]
        assert money(row, "invoiced", "open_amount", "balance") == (Decimal(80), Decimal(50), Decimal(50))


def test_settled_amounts_before_the_invoice_and_on_reversal(make_platform) -> None:
    platform = make_platform(["reporting"])
    # the allocation overtakes its invoice: its open amount until the billed amount is known
    send(platform, "cobranza.payment.applied", settled(applied("X1", "A1", [("I1", "40", "60")]), "40"))
    assert money(balances(platform, "A1")["COP"], "open_amount") == (Decimal(60),)
    send(platform, "cobranza.invoice.issued", invoice("I1", "A1", "100"))
    send(platform, "cobranza.invoice.adjusted", dict(ADJUST_TO_80, new_amount="30"))
    assert money(balances(platform, "A1")["COP"], "invoiced", "open_amount") == (Decimal(30), Decimal(0))
    reversal = settled(reversal_applied("X1", "A1", [("I1", "40", "30")]), "0", key="reopened")
    send(platform, "cobranza.payment.reversal_applied", reversal, at=T0 + timedelta(minutes=1))
    assert money(balances(platform, "A1")["COP"], "open_amount") == (Decimal(30),)


def test_allocations_without_settled_keep_their_open_amount(make_platform) -> None:
    """Events from before ``invoice_settled_after``: the open amount they carry, adjusted as before."""
    platform = make_platform(["reporting"])
    send(platform, "cobranza.invoice.issued", invoice("I1", "A1", "100"))
    send(platform, "cobranza.payment.applied", settled(applied("X1", "A1", [("I1", "30", "70")]), "30"))
    later = T0 + timedelta(minutes=1)
    send(platform, "cobranza.payment.applied", applied("X2", "A1", [("I1", "10", "60")]), at=later)
    assert money(balances(platform, "A1")["COP"], "open_amount") == (Decimal(60),)
    send(platform, "cobranza.invoice.adjusted", ADJUST_TO_80)  # settled unknown again: 100 - 60 = 40 kept
    assert money(balances(platform, "A1")["COP"], "open_amount") == (Decimal(40),)


def _envelope(event_type: str, data: dict[str, Any], n: int, tenant: str = "default") -> Envelope:
    return Envelope(
        id=f"b{n}",
        source="/test",
        type=event_type,
        time=T0 + timedelta(seconds=n),
        subject=data.get("account_id") or data.get("payment_id"),
        data=data,
        tenantid=tenant,
    )


def _mixed_stream() -> list[tuple[str, dict[str, Any]]]:
    adjust = dict(ADJUST_TO_80, invoice_id="I2", account_id="A2", new_amount="150")
    promise = {
        "account_id": "A1",
        "amount": "10",
        "currency": "COP",
        "due_on": "2026-01-20",
        "made_via": "agent",
    }
    resolved = {
        "promise_id": "P1",
        "account_id": "A1",
        "promised_amount": "10",
        "paid_amount": "10",
        "currency": "COP",
        "due_on": "2026-01-20",
    }
    due = {"account_id": "A1", "scheduled_for": T0.isoformat(), "strategy": "s", "step": "1", "template": "t"}
    outcome = {
        "contact_id": "K1",
        "account_id": "A1",
        "channel": "sms",
        "status": "sent",
        "occurred_at": T0.isoformat(),
    }
    return [
        ("cobranza.invoice.issued", invoice("I1", "A1", "100")),
        ("cobranza.invoice.issued", invoice("I2", "A2", "200", line="vida", issued="2026-01-06")),
        ("cobranza.invoice.adjusted", adjust),
        ("cobranza.invoice.issued", invoice("I2", "A2", "999")),  # re-sent: the first issue stands
        ("cobranza.invoice.issued", invoice("I3", "A2", "50", line="hogar", issued="2026-01-02")),
        (
            "cobranza.invoice.cancelled",
            {**adjust, "invoice_id": "I3", "reason": "issued_in_error", "cancelled_on": "2026-01-12"},
        ),
        ("cobranza.invoice.adjusted", dict(adjust, invoice_id="NOPE")),  # poison: dead-lettered alone
        ("cobranza.account.aged", aged("A1", "dpd_1_30", 3, stage="early", previous=("current", "current"))),
        ("cobranza.account.aged", aged("A1", "dpd_31_60", 33, stage="early")),
        ("cobranza.payment.received", received("X1", "A1", "60")),
        (
            "cobranza.payment.reversed",
            {"payment_id": "X1", "account_id": "A1", "reversed_on": "2026-01-12", "reason": "bounced_cheque"},
        ),
        ("cobranza.payment.received", received("X1", "A1", "61")),
        ("cobranza.payment.unapplied", unapplied("X2", "25")),
        ("cobranza.payment.applied", settled(applied("X1", "A1", [("I1", "60", "40")]), "60")),
        (
            "cobranza.payment.applied",
            settled(applied("X2", "A2", [("I2", "25", "125"), ("I2", "0", "120")]), "25", "30"),
        ),
        (
            "cobranza.payment.reversal_applied",
            settled(reversal_applied("X1", "A1", [("I1", "60", "100")]), "0", key="reopened"),
        ),
        ("cobranza.promise.made", dict(promise, promise_id="P1")),
        ("cobranza.promise.kept", resolved),
        ("cobranza.promise.made", dict(promise, promise_id="P1", amount="999")),
        ("cobranza.promise.made", dict(promise, promise_id="P2")),
        ("cobranza.contact.due", dict(due, contact_id="K1", channel="sms")),
        ("cobranza.contact.outcome", outcome),
        ("cobranza.contact.due", dict(due, contact_id="K1", channel="email")),
        ("cobranza.contact.outcome", dict(outcome, contact_id="K2")),
    ]


def _tables(platform: Any) -> dict[str, Counter[str]]:
    return table_rows(
        platform.context("reporting"),
        include=lambda t: t.name not in {"inbox", "outbox", "timers"} and not t.name.startswith("_"),
        with_serial=True,
    )


def test_one_batch_gives_what_one_event_at_a_time_gives(make_platform) -> None:
    stream = _mixed_stream()
    batched, one_by_one = make_platform(["reporting"]), make_platform(["reporting"])
    one_by_one.batch_size = 1
    for platform in (batched, one_by_one):
        for n, (event_type, data) in enumerate(stream):
            short = event_type.removeprefix("cobranza.")
            platform.publish(_envelope(event_type, data, n), TOPIC.get(short) or TOPIC[short.split(".")[0]])
        platform.run_until_quiet()
    assert len(batched.results) < len(one_by_one.results)
    for platform in (batched, one_by_one):
        dead = platform.broker.topics[Topics.DEAD_LETTER]
        assert len(dead) == 1 and b"unknown invoice 'NOPE'" in dict(dead[0].record.headers)["dlq_reason"]
    assert _tables(batched) == _tables(one_by_one)
    a1, a2 = balances(batched, "A1")["COP"], balances(batched, "A2")["COP"]
    assert (a1["bucket"], a2["bucket"]) == ("dpd_31_60", "current")
    assert money(a1, "open_amount") == (Decimal(100),)
    assert money(a2, "invoiced", "open_amount") == (Decimal(150), Decimal(120))
    assert client_for(batched).get("/v1/kpis/promises").json()["kept"] == 1


def test_never_aged_accounts_take_their_tenants_scheme_first_bucket(make_platform, tmp_path: Path) -> None:
    (tmp_path / "aging.yaml").write_text(
        AGING_PACKAGED.read_text(encoding="utf-8") + "tenants:\n  aseguradora_x:\n    buckets:\n"
        "      - {name: al_dia, min_dpd: 0, max_dpd: 0, stage: current}\n"
        "      - {name: mora, min_dpd: 1, max_dpd: null, stage: late}\n",
        encoding="utf-8",
    )
    platform = make_platform(["reporting"])
    platform.context("reporting").extras["config_dir"] = tmp_path
    for tenant in ("aseguradora_x", "banco_y"):
        send(platform, "cobranza.invoice.issued", invoice("I1", "A1", "100"), tenant=tenant)
        send(platform, "cobranza.payment.applied", applied("X1", "A2", [("I9", "5", "0")]), tenant=tenant)
    for tenant, first in (("aseguradora_x", "al_dia"), ("banco_y", "current")):
        rows = (
            client_for(platform, tenant)
            .get("/v1/portfolio", params={"group_by": "bucket,stage"})
            .json()["rows"]
        )
        assert {(r["bucket"], r["stage"]) for r in rows} == {(first, "current")}
        assert sum(r["accounts"] for r in rows) == 2


def test_the_scheme_loader_is_aging_file_read_per_tenant_and_strategy_reads_it_too(tmp_path: Path) -> None:
    assert [b.name for b in tenant_buckets(None, "anyone")][:2] == ["current", "dpd_1_30"]
    (tmp_path / "aging.yaml").write_text(
        "buckets:\n  - {name: al_dia, min_dpd: 0, max_dpd: 0}\n  - {name: mora, min_dpd: 1, stage: late}\n"
        "  - not a bucket\n"
        "tenants:\n  t2:\n    buckets:\n      - {name: corriente, min_dpd: 0, max_dpd: 0, stage: cero}\n",
        encoding="utf-8",
    )
    first = first_bucket(tmp_path, "t1")
    assert first is not None and (first.name, first.stage) == ("al_dia", "current")
    second = first_bucket(tmp_path, "t2")
    assert second is not None and (second.name, second.stage) == ("corriente", "cero")
    assert bucket_stages({"config_dir": tmp_path}, "t1") == {"al_dia": "current", "mora": "late"}
    assert bucket_stages({}, "t1")["dpd_361_plus"] == "residual"
    unreadable = tmp_path / "unreadable"
    unreadable.mkdir()
    (unreadable / "aging.yaml").write_text("- a list, not a scheme\n", encoding="utf-8")
    assert first_bucket(unreadable, "t1") is None
