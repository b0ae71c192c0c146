"""reporting projections, SQL views and API on the in-memory platform."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.runtime.http import create_app

T0 = datetime(2026, 1, 14, 15, tzinfo=UTC)
_seq = iter(range(1, 10_000))


def env(event_type: str, data: dict[str, Any], subject: str) -> Envelope:
    return Envelope(id=f"r{next(_seq)}", source="/test", type=event_type, time=T0, subject=subject, data=data)


def invoice(inv: str, account: str, amount: str, line: str, advisor: str, issued: str = "2026-01-05") -> dict:
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
        "currency": "COP",
        "issued_on": issued,
        "due_on": "2026-01-20",
        "product_line": line,
        "advisor_id": advisor,
        "office_id": "BOG",
        "agency_id": "AG1",
    }


def feed(platform) -> None:
    events = [
        ("cobranza.invoice.issued", invoice("I1", "A1", "1000", "auto", "ADV1"), Topics.INVOICES),
        (
            "cobranza.invoice.issued",
            invoice("I2", "A1", "500", "auto", "ADV1", "2026-01-06"),
            Topics.INVOICES,
        ),
        ("cobranza.invoice.issued", invoice("I3", "A2", "2000", "vida", "ADV2"), Topics.INVOICES),
        ("cobranza.invoice.issued", invoice("I4", "A3", "300", "auto", "ADV2"), Topics.INVOICES),
        (
            "cobranza.invoice.cancelled",
            {
                "invoice_id": "I4",
                "account_id": "A3",
                "reason": "issued_in_error",
                "cancelled_on": "2026-01-07",
            },
            Topics.INVOICES,
        ),
        (
            "cobranza.payment.received",
            {
                "payment_id": "X1",
                "account_id": "A1",
                "amount": "400",
                "currency": "COP",
                "received_on": "2026-01-08",
            },
            Topics.PAYMENTS,
        ),
        (
            "cobranza.payment.received",
            {
                "payment_id": "X2",
                "account_id": "A2",
                "amount": "100",
                "currency": "COP",
                "received_on": "2026-01-08",
            },
            Topics.PAYMENTS,
        ),
        (
            "cobranza.payment.reversed",
            {"payment_id": "X2", "account_id": "A2", "reversed_on": "2026-01-09", "reason": "bounced_cheque"},
            Topics.PAYMENTS,
        ),
        (
            "cobranza.account.aged",
            {
                "account_id": "A2",
                "bucket": "dpd_1_30",
                "days_past_due": 3,
                "overdue_amount": "2000",
                "currency": "COP",
            },
            Topics.ACCOUNTS,
        ),
    ]
    for event_type, data, topic in events:
        platform.publish(env(event_type, data, data["account_id"]), topic)
        platform.run_until_quiet()
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
        platform.publish(env("cobranza.promise.made", dict(promise, promise_id=pid), "A1"), Topics.PROMISES)
    platform.publish(env("cobranza.promise.kept", dict(resolved, promise_id="P1"), "A1"), Topics.PROMISES)
    platform.publish(
        env("cobranza.promise.broken", dict(resolved, promise_id="P2", paid_amount="0"), "A1"),
        Topics.PROMISES,
    )
    due = {
        "account_id": "A1",
        "scheduled_for": T0.isoformat(),
        "strategy": "default",
        "step": "s",
        "template": "t",
    }
    platform.publish(
        env("cobranza.contact.due", dict(due, contact_id="K1", channel="email"), "A1"), Topics.CONTACTS
    )
    platform.publish(
        env("cobranza.contact.due", dict(due, contact_id="K2", channel="sms"), "A1"), Topics.CONTACTS
    )
    platform.run_until_quiet()
    outcome = {
        "contact_id": "K1",
        "account_id": "A1",
        "channel": "email",
        "status": "sent",
        "occurred_at": T0.isoformat(),
    }
    platform.publish(env("cobranza.contact.outcome", outcome, "A1"), Topics.CONTACTS)
    platform.run_until_quiet()


def test_portfolio_by_bucket_and_ramo_with_balances(make_platform, clock) -> None:
    platform = make_platform(["reporting"])
    feed(platform)
    client = TestClient(create_app(platform.context("reporting")))
    body = client.get("/v1/portfolio", params={"group_by": "bucket,product_line"}).json()
    rows = {(r["bucket"], r["product_line"]): (r["accounts"], Decimal(r["balance"])) for r in body["rows"]}
    assert rows == {
        ("current", "auto"): (2, Decimal("1100")),  # A1 1500-400, A3 cancelled -> 0
        ("dpd_1_30", "vida"): (1, Decimal("2000")),  # reversed payment does not count
    }
    by_advisor = client.get("/v1/portfolio", params={"group_by": "advisor_id"}).json()["rows"]
    assert [(r["advisor_id"], r["accounts"]) for r in by_advisor] == [("ADV1", 1), ("ADV2", 2)]
    bad = client.get("/v1/portfolio", params={"group_by": "bucket,colour"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "group_by"]


def test_promise_and_contact_kpis_and_views(make_platform, clock) -> None:
    platform = make_platform(["reporting"])
    feed(platform)
    client = TestClient(create_app(platform.context("reporting")))
    kpis = client.get("/v1/kpis/promises").json()
    assert (kpis["made"], kpis["kept"], kpis["broken"], kpis["open"]) == (3, 1, 1, 1)
    assert Decimal(kpis["kept_rate"]) == Decimal("0.5")
    contacts = client.get("/v1/kpis/contacts").json()
    assert contacts == [
        {"channel": "email", "status": "sent", "contacts": 1},
        {"channel": "sms", "status": "due", "contacts": 1},
    ]
    with platform.context("reporting").sessions() as session:
        total = session.execute(text("SELECT SUM(balance) FROM reporting.v_portfolio")).scalar_one()
    assert total == Decimal("3100")


def test_dashboard_renders_buckets_and_kept_rate(make_platform, clock) -> None:
    platform = make_platform(["reporting"])
    feed(platform)
    client = TestClient(create_app(platform.context("reporting")))
    page = client.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "dpd_1_30" in page.text and "2,000.00" in page.text
    assert "50.0 %" in page.text
