"""strategy on the in-memory platform: promises kept/broken, playbook contacts within the law."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from support.auth import api_client

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from services.strategy.adapters.orm import consents, contacts, promises

BOG = ZoneInfo("America/Bogota")
_seq = iter(range(1, 10_000))


def env(
    event_type: str, data: dict[str, Any], at: datetime, subject: str = "A1", tenant: str = "default"
) -> Envelope:
    return Envelope(
        id=f"e{next(_seq)}",
        source="/test",
        type=event_type,
        time=at,
        subject=subject,
        data=data,
        tenantid=tenant,
    )


def emitted(platform, topic: str, event_type: str, tenant: str | None = None) -> list[dict[str, Any]]:
    out = []
    for p in platform.broker.topics.get(topic, []):
        body = json.loads(p.record.value or b"")
        if body["type"] == event_type and tenant in (None, body.get("tenantid", "default")):
            out.append(body["data"])
    return out


def consent_all(platform, at: datetime, tenant: str = "default") -> None:  # type: ignore[no-untyped-def]
    """A1's debtor authorised every channel (consent is closed by default: no record, no contact)."""
    points = [
        {"channel": ch, "value": "x@example.com" if ch == "email" else "+573001234567", "consent": True}
        for ch in ("email", "sms", "voice", "letter")
    ]
    customer = {
        "customer_id": "C1",
        "account_ids": ["A1"],
        "name": "Ana",
        "kind": "person",
        "country": "CO",
        "timezone": "America/Bogota",
        "contact_points": points,
    }
    platform.publish(
        env("cobranza.customer.upserted", customer, at, subject="C1", tenant=tenant), Topics.CUSTOMERS
    )
    platform.run_until_quiet()


PROMISE = {
    "promise_id": "P1",
    "account_id": "A1",
    "amount": "100000",
    "currency": "COP",
    "due_on": "2026-01-15",
    "made_via": "call_center",
}


def applied(
    pid: str,
    amount: str,
    on: str,
    *,
    currency: str = "COP",
    rule: str = "reference",
    credit: str = "0",
    account: str = "A1",
) -> dict[str, Any]:
    """reconciliation's ``payment.applied``: ``amount`` on one invoice, ``credit`` left as credit."""
    return {
        "payment_id": pid,
        "account_id": account,
        "currency": currency,
        "amount_applied": amount,
        "allocations": [{"invoice_id": "I1", "amount": amount, "invoice_open_amount_after": "0"}],
        "credit_created": credit,
        "credit_balance_after": credit,
        "rule": rule,
        "applied_on": on,
    }


def reversal(pid: str, on: str, *, currency: str = "COP", account: str | None = "A1") -> dict[str, Any]:
    body: dict[str, Any] = {
        "payment_id": pid,
        "currency": currency,
        "reopened": [{"invoice_id": "I1", "amount": "1", "invoice_open_amount_after": "1"}],
        "credit_balance_after": "0",
        "reversed_on": on,
        "reason": "insufficient_funds",
    }
    if account is not None:
        body["account_id"] = account
    return body


def pay(platform, data: dict[str, Any], at: datetime, tenant: str = "default") -> None:
    platform.publish(env("cobranza.payment.applied", data, at, tenant=tenant), Topics.ALLOCATIONS)


def reverse(platform, data: dict[str, Any], at: datetime, tenant: str = "default") -> None:
    platform.publish(env("cobranza.payment.reversal_applied", data, at, tenant=tenant), Topics.ALLOCATIONS)


def promise_row(platform, promise_id: str = "P1", tenant: str = "default") -> Any:
    with platform.context("strategy").sessions() as session:
        return session.execute(
            select(promises).where(promises.c.tenant_id == tenant, promises.c.promise_id == promise_id)
        ).one()


def test_promise_kept_as_soon_as_payments_cover_it_and_timer_cancelled(make_platform, clock) -> None:
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 5, 15, tzinfo=UTC)
    platform.advance_to(t0)
    platform.publish(env("cobranza.promise.made", PROMISE, t0), Topics.PROMISES)
    pay(platform, applied("X1", "60000", "2026-01-06"), t0)
    platform.run_until_quiet()
    assert emitted(platform, Topics.PROMISES, "cobranza.promise.kept") == []
    assert promise_row(platform).paid_amount == Decimal("60000")  # partial fulfilment is recorded
    pay(platform, applied("X2", "30000", "2026-01-07", credit="10000"), t0)
    platform.run_until_quiet()
    kept = emitted(platform, Topics.PROMISES, "cobranza.promise.kept")
    assert kept == [
        {
            "promise_id": "P1",
            "account_id": "A1",
            "promised_amount": "100000.0000",
            "paid_amount": "100000.0000",
            "currency": "COP",
            "due_on": "2026-01-15",
        }
    ]
    platform.advance_to(datetime(2026, 2, 1, tzinfo=UTC))
    assert emitted(platform, Topics.PROMISES, "cobranza.promise.broken") == []


def test_promise_broken_at_end_of_due_date_in_debtor_time(make_platform) -> None:
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 5, 15, tzinfo=UTC)
    platform.advance_to(t0)
    platform.publish(env("cobranza.promise.made", PROMISE, t0), Topics.PROMISES)
    pay(platform, applied("X1", "30000", "2026-01-06"), t0)
    platform.run_until_quiet()
    # 2026-01-15 23:59 Bogotá is 2026-01-16 04:59 UTC: not yet broken
    platform.advance_to(datetime(2026, 1, 16, 4, 59, tzinfo=UTC))
    assert emitted(platform, Topics.PROMISES, "cobranza.promise.broken") == []
    platform.advance_to(datetime(2026, 1, 16, 5, 0, tzinfo=UTC))
    broken = emitted(platform, Topics.PROMISES, "cobranza.promise.broken")
    assert [(b["promise_id"], b["paid_amount"]) for b in broken] == [("P1", "30000.0000")]


def test_payment_seen_before_the_promise_still_counts(make_platform) -> None:
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 5, 15, tzinfo=UTC)
    platform.advance_to(t0)
    pay(platform, applied("X1", "100000", "2026-01-05"), t0)
    platform.run_until_quiet()
    platform.publish(env("cobranza.promise.made", PROMISE, t0), Topics.PROMISES)
    platform.run_until_quiet()
    assert [k["promise_id"] for k in emitted(platform, Topics.PROMISES, "cobranza.promise.kept")] == ["P1"]


def test_payment_before_promise_was_made_does_not_count(make_platform) -> None:
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 5, 15, tzinfo=UTC)
    platform.advance_to(t0)
    platform.publish(env("cobranza.promise.made", PROMISE, t0), Topics.PROMISES)
    pay(platform, applied("X1", "100000", "2026-01-04"), t0)
    platform.run_until_quiet()
    assert emitted(platform, Topics.PROMISES, "cobranza.promise.kept") == []


def test_raw_payment_received_is_not_money_for_promises(make_platform) -> None:
    """Before: strategy counted payment.received; a payment reconciliation parks in suspense kept the promise."""
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 5, 15, tzinfo=UTC)
    platform.advance_to(t0)
    platform.publish(env("cobranza.promise.made", PROMISE, t0), Topics.PROMISES)
    received = {"payment_id": "X1", "account_id": "A1", "amount": "100000", "currency": "COP"}
    platform.publish(
        env("cobranza.payment.received", {**received, "received_on": "2026-01-06"}, t0), Topics.PAYMENTS
    )
    platform.run_until_quiet()
    assert emitted(platform, Topics.PROMISES, "cobranza.promise.kept") == []
    assert promise_row(platform).paid_amount == 0


def test_promise_kept_by_a_transfer_matched_later_from_suspense(make_platform) -> None:
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 5, 15, tzinfo=UTC)
    platform.advance_to(t0)
    platform.publish(env("cobranza.promise.made", PROMISE, t0), Topics.PROMISES)
    parked = {
        "payment_id": "X1",
        "amount": "100000",
        "currency": "COP",
        "reason": "unidentified_account",
        "received_on": "2026-01-07",
    }
    platform.publish(
        env("cobranza.payment.unapplied", parked, t0, subject="unidentified:X1"), Topics.ALLOCATIONS
    )
    platform.advance_to(datetime(2026, 1, 12, tzinfo=UTC))
    assert emitted(platform, Topics.PROMISES, "cobranza.promise.kept") == []
    # the customer link arrives on the 12th: reconciliation matches the transfer, before the due end
    pay(platform, applied("X1", "100000", "2026-01-12", rule="reference"), datetime(2026, 1, 12, tzinfo=UTC))
    platform.advance_to(datetime(2026, 2, 1, tzinfo=UTC))
    assert [k["promise_id"] for k in emitted(platform, Topics.PROMISES, "cobranza.promise.kept")] == ["P1"]
    assert emitted(platform, Topics.PROMISES, "cobranza.promise.broken") == []


def test_cash_applied_before_the_due_end_but_seen_after_the_timer_still_keeps_the_promise(
    make_platform,
) -> None:
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 5, 15, tzinfo=UTC)
    platform.advance_to(t0)
    platform.publish(env("cobranza.promise.made", PROMISE, t0), Topics.PROMISES)
    platform.advance_to(datetime(2026, 1, 16, 6, tzinfo=UTC))  # the deadline timer broke it
    assert promise_row(platform).status == "broken"
    lagging = datetime(2026, 1, 16, 4, tzinfo=UTC)  # applied at 23:00 Bogotá on the due date
    pay(platform, applied("X1", "100000", "2026-01-15"), lagging)
    late = datetime(2026, 1, 16, 5, 30, tzinfo=UTC)  # applied after the due end: never counts
    pay(platform, applied("X2", "100000", "2026-01-16"), late)
    platform.run_until_quiet()
    row = promise_row(platform)
    assert (row.status, row.paid_amount) == ("kept", Decimal("100000"))
    assert [k["promise_id"] for k in emitted(platform, Topics.PROMISES, "cobranza.promise.kept")] == ["P1"]


def test_parked_payment_placed_as_credit_by_a_customer_link_counts(make_platform) -> None:
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 5, 15, tzinfo=UTC)
    platform.advance_to(t0)
    platform.publish(env("cobranza.promise.made", PROMISE, t0), Topics.PROMISES)
    placed = {**applied("X1", "0", "2026-01-07", rule="credit_balance", credit="100000"), "allocations": []}
    pay(platform, placed, t0)
    platform.run_until_quiet()
    assert promise_row(platform).status == "kept"


def test_credit_moved_by_reconciliation_is_not_counted_twice(make_platform) -> None:
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 5, 15, tzinfo=UTC)
    platform.advance_to(t0)
    platform.publish(env("cobranza.promise.made", PROMISE, t0), Topics.PROMISES)
    pay(platform, applied("X1", "0", "2026-01-06", credit="60000"), t0)
    # a new invoice uses X1's credit: the same cash, moved from credit to the invoice
    pay(platform, applied("X1", "60000", "2026-01-08", rule="credit_balance"), t0)
    platform.run_until_quiet()
    assert promise_row(platform).paid_amount == Decimal("60000")
    assert emitted(platform, Topics.PROMISES, "cobranza.promise.kept") == []


def test_bounced_cheque_unkeeps_the_promise_and_it_breaks_at_the_due_end(make_platform) -> None:
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 5, 15, tzinfo=UTC)
    platform.advance_to(t0)
    platform.publish(env("cobranza.promise.made", PROMISE, t0), Topics.PROMISES)
    pay(platform, applied("CHQ1", "100000", "2026-01-06"), t0)
    platform.run_until_quiet()
    assert promise_row(platform).status == "kept"
    reverse(platform, reversal("CHQ1", "2026-01-09"), datetime(2026, 1, 9, tzinfo=UTC))
    platform.advance_to(datetime(2026, 1, 10, tzinfo=UTC))
    row = promise_row(platform)
    assert (row.status, row.paid_amount, row.resolved_at) == ("open", 0, None)
    platform.advance_to(datetime(2026, 1, 16, 5, tzinfo=UTC))
    broken = emitted(platform, Topics.PROMISES, "cobranza.promise.broken")
    assert [(b["promise_id"], b["paid_amount"]) for b in broken] == [("P1", "0.0000")]


def test_reopened_promise_is_kept_again_by_new_cash_before_the_due_end(make_platform) -> None:
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 5, 15, tzinfo=UTC)
    platform.advance_to(t0)
    platform.publish(env("cobranza.promise.made", PROMISE, t0), Topics.PROMISES)
    platform.run_until_quiet()
    pay(platform, applied("CHQ1", "100000", "2026-01-06"), t0)
    platform.run_until_quiet()
    reverse(platform, reversal("CHQ1", "2026-01-09"), t0)
    pay(platform, applied("X2", "100000", "2026-01-10"), t0)
    platform.advance_to(datetime(2026, 2, 1, tzinfo=UTC))
    assert len(emitted(platform, Topics.PROMISES, "cobranza.promise.kept")) == 2
    assert emitted(platform, Topics.PROMISES, "cobranza.promise.broken") == []
    row = promise_row(platform)
    assert (row.status, row.paid_amount) == ("kept", Decimal("100000"))


def test_bounced_cheque_after_the_due_end_breaks_a_kept_promise(make_platform) -> None:
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 5, 15, tzinfo=UTC)
    platform.advance_to(t0)
    platform.publish(env("cobranza.promise.made", PROMISE, t0), Topics.PROMISES)
    pay(platform, applied("CHQ1", "100000", "2026-01-06"), t0)
    platform.advance_to(datetime(2026, 1, 20, tzinfo=UTC))
    reverse(platform, reversal("CHQ1", "2026-01-20"), datetime(2026, 1, 20, tzinfo=UTC))
    platform.run_until_quiet()
    broken = emitted(platform, Topics.PROMISES, "cobranza.promise.broken")
    assert [(b["promise_id"], b["paid_amount"]) for b in broken] == [("P1", "0.0000")]
    assert promise_row(platform).status == "broken"


def test_cash_in_another_currency_does_not_keep_the_promise(make_platform) -> None:
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 5, 15, tzinfo=UTC)
    platform.advance_to(t0)
    platform.publish(env("cobranza.promise.made", PROMISE, t0), Topics.PROMISES)
    usd = {**PROMISE, "promise_id": "P2", "amount": "50", "currency": "USD"}
    platform.publish(env("cobranza.promise.made", usd, t0), Topics.PROMISES)
    pay(platform, applied("X1", "100000", "2026-01-06", currency="USD"), t0)
    platform.run_until_quiet()
    assert [k["promise_id"] for k in emitted(platform, Topics.PROMISES, "cobranza.promise.kept")] == ["P2"]
    assert promise_row(platform, "P1").paid_amount == 0
    reverse(platform, reversal("X1", "2026-01-07", currency="USD"), t0)
    platform.run_until_quiet()
    assert (promise_row(platform, "P1").status, promise_row(platform, "P2").status) == ("open", "open")


def test_two_tenants_with_the_same_ids_are_independent(make_platform) -> None:
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 5, 15, tzinfo=UTC)
    platform.advance_to(t0)
    for tenant in ("aseguradora_a", "financiera_b"):
        platform.publish(env("cobranza.promise.made", PROMISE, t0, tenant=tenant), Topics.PROMISES)
    pay(platform, applied("X1", "100000", "2026-01-06"), t0, tenant="aseguradora_a")
    reverse(platform, reversal("X1", "2026-01-07"), t0, tenant="financiera_b")  # b's X1 is another payment
    platform.run_until_quiet()
    assert promise_row(platform, tenant="aseguradora_a").status == "kept"
    assert promise_row(platform, tenant="financiera_b").status == "open"
    platform.advance_to(datetime(2026, 2, 1, tzinfo=UTC))
    assert [
        k["promise_id"] for k in emitted(platform, Topics.PROMISES, "cobranza.promise.kept", "aseguradora_a")
    ] == ["P1"]
    assert [
        b["promise_id"] for b in emitted(platform, Topics.PROMISES, "cobranza.promise.broken", "financiera_b")
    ] == ["P1"]
    assert emitted(platform, Topics.PROMISES, "cobranza.promise.broken", "aseguradora_a") == []


CUSTOMER = {
    "customer_id": "C1",
    "account_ids": ["A1"],
    "name": "Ana",
    "kind": "person",
    "country": "CO",
    "timezone": "America/Bogota",
    "contact_points": [
        {"channel": "email", "value": "ana@example.com", "consent": True},
        {"channel": "sms", "value": "+573001234567", "consent": False},
    ],
}


def test_aged_account_gets_playbook_contacts_in_legal_slots_and_consent_is_respected(make_platform) -> None:
    platform = make_platform(["strategy"])
    # Saturday 2026-01-10 16:00 Bogotá: after the Saturday window; Monday 12 is a holiday
    t0 = datetime(2026, 1, 10, 16, tzinfo=BOG)
    platform.advance_to(t0)
    platform.publish(env("cobranza.customer.upserted", CUSTOMER, t0), Topics.CUSTOMERS)
    aged = {
        "account_id": "A1",
        "bucket": "dpd_1_30",
        "days_past_due": 1,
        "overdue_amount": "100000",
        "currency": "COP",
    }
    platform.publish(env("cobranza.account.aged", aged, t0), Topics.ACCOUNTS)
    platform.run_until_quiet()
    platform.advance_to(datetime(2026, 1, 25, tzinfo=BOG))
    due = emitted(platform, Topics.CONTACTS, "cobranza.contact.due")
    first = due[0]
    assert (first["channel"], first["step"], first["template"]) == ("email", "aviso_mora", "aviso_mora")
    assert datetime.fromisoformat(first["scheduled_for"]) == datetime(2026, 1, 13, 7, tzinfo=BOG)
    assert all(d["channel"] != "sms" for d in due)
    with platform.context("strategy").sessions() as session:
        sms = session.execute(select(contacts).where(contacts.c.channel == "sms")).one()
    assert (sms.status, sms.reason) == ("skipped", "no consent for sms")


def test_segment_change_replaces_pending_steps_and_cure_cancels_them(make_platform) -> None:
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 14, 10, tzinfo=BOG)
    platform.advance_to(t0)
    aged = {
        "account_id": "A1",
        "bucket": "dpd_1_30",
        "days_past_due": 1,
        "overdue_amount": "5",
        "currency": "COP",
    }
    platform.publish(env("cobranza.account.aged", aged, t0), Topics.ACCOUNTS)
    platform.publish(
        env("cobranza.segment.changed", {"account_id": "A1", "segment": "dpd_91_180"}, t0), Topics.SEGMENTS
    )
    platform.run_until_quiet()
    with platform.context("strategy").sessions() as session:
        rows = {r.step: r.status for r in session.execute(select(contacts))}
    assert rows["carta_prejuridica"] in {"planned", "due"}
    assert rows["sms_mora"] == "cancelled"
    cured = dict(aged, bucket="current", days_past_due=0, overdue_amount="0")
    platform.publish(env("cobranza.account.aged", cured, t0), Topics.ACCOUNTS)
    platform.run_until_quiet()
    platform.advance_to(datetime(2026, 3, 1, tzinfo=BOG))
    steps = [d["step"] for d in emitted(platform, Topics.CONTACTS, "cobranza.contact.due")]
    assert "sms_mora" not in steps and "llamada" not in steps


def test_invoice_plans_a_pre_due_reminder(make_platform) -> None:
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 5, 15, tzinfo=UTC)
    platform.advance_to(t0)
    invoice = {
        "invoice_id": "I1",
        "account_id": "A1",
        "customer": {
            "customer_id": "C1",
            "name": "Ana",
            "kind": "person",
            "country": "CO",
            "timezone": "America/Bogota",
        },
        "amount": "100000.00",
        "currency": "COP",
        "issued_on": "2026-01-05",
        "due_on": "2026-01-20",
        "product_line": "auto",
    }
    consent_all(platform, t0)
    platform.publish(env("cobranza.invoice.issued", invoice, t0), Topics.INVOICES)
    platform.run_until_quiet()
    platform.advance_to(datetime(2026, 1, 18, tzinfo=UTC))
    due = emitted(platform, Topics.CONTACTS, "cobranza.contact.due")
    assert [(d["step"], d["channel"]) for d in due] == [("recordatorio_previo", "email")]
    assert datetime.fromisoformat(due[0]["scheduled_for"]) == datetime(2026, 1, 17, 9, tzinfo=BOG)


def test_api_shows_promises_and_contact_plan_of_the_callers_tenant_only(make_platform) -> None:

    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 14, 15, tzinfo=UTC)
    platform.advance_to(t0)
    platform.publish(env("cobranza.promise.made", PROMISE, t0, tenant="aseguradora_a"), Topics.PROMISES)
    pay(platform, applied("X1", "40000", "2026-01-14"), t0, tenant="aseguradora_a")
    platform.run_until_quiet()
    client = api_client(platform.context("strategy"))
    tenant_a = {"X-Cobranza-Tenant": "aseguradora_a"}
    [promise] = client.get("/v1/accounts/A1/promises", headers=tenant_a).json()
    assert (promise["promise_id"], promise["status"], promise["paid_amount"]) == ("P1", "open", "40000.0000")
    assert promise["payments"] == [{"payment_id": "X1", "amount": "40000.0000"}]
    assert client.get("/v1/accounts/A1/contacts", headers=tenant_a).json() == []
    # the same account id in another tenant (or the default one) is another account: unknown here
    assert client.get("/v1/accounts/A1/promises").status_code == 404
    assert client.get("/v1/accounts/A1/contacts", headers={"X-Cobranza-Tenant": "otra"}).status_code == 404
    bad = client.get("/v1/accounts/A%001/promises", headers=tenant_a)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["path", "account_id"]


def test_current_account_gets_no_dunning_until_it_is_overdue(make_platform) -> None:
    """A segment change for an account that owes nothing overdue must not start 'aviso de mora' steps."""
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 5, 15, tzinfo=UTC)
    platform.advance_to(t0)
    consent_all(platform, t0)
    change = {"account_id": "A1", "segment": "current_good", "reasons": []}
    platform.publish(env("cobranza.segment.changed", change, t0), Topics.SEGMENTS)
    platform.advance_to(datetime(2026, 3, 1, tzinfo=UTC))
    assert emitted(platform, Topics.CONTACTS, "cobranza.contact.due") == []

    aged = {
        "account_id": "A1",
        "bucket": "dpd_1_30",
        "days_past_due": 1,
        "overdue_amount": "100.00",
        "currency": "COP",
        "previous_bucket": "current",
    }
    platform.publish(env("cobranza.account.aged", aged, datetime(2026, 3, 2, 5, tzinfo=UTC)), Topics.ACCOUNTS)
    platform.advance_to(datetime(2026, 3, 20, tzinfo=UTC))
    steps = [c["step"] for c in emitted(platform, Topics.CONTACTS, "cobranza.contact.due")]
    assert "aviso_mora" in steps

    cured = {
        **aged,
        "bucket": "current",
        "days_past_due": 0,
        "overdue_amount": "0",
        "previous_bucket": "dpd_1_30",
    }
    platform.publish(env("cobranza.account.aged", cured, datetime(2026, 3, 20, tzinfo=UTC)), Topics.ACCOUNTS)
    platform.publish(
        env(
            "cobranza.segment.changed",
            {**change, "previous_segment": "early_low_value"},
            datetime(2026, 3, 20, tzinfo=UTC),
        ),
        Topics.SEGMENTS,
    )
    before = len(emitted(platform, Topics.CONTACTS, "cobranza.contact.due"))
    platform.advance_to(datetime(2026, 6, 1, tzinfo=UTC))
    assert len(emitted(platform, Topics.CONTACTS, "cobranza.contact.due")) == before


def aged_event(
    bucket: str, dpd: int, currency: str, stage: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "account_id": "A1",
        "bucket": bucket,
        "days_past_due": dpd,
        "overdue_amount": "0" if dpd == 0 else "100",
        "currency": currency,
        **extra,
    }
    if stage is not None:
        body["stage"] = stage
    return body


def plan(platform, tenant: str = "default") -> list[Any]:
    with platform.context("strategy").sessions() as session:
        return list(
            session.execute(
                select(contacts)
                .where(contacts.c.tenant_id == tenant, contacts.c.kind == "dunning")
                .order_by(contacts.c.currency, contacts.c.planned_for)
            )
        )


def test_usd_turning_current_does_not_cancel_cop_dunning(make_platform) -> None:
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 14, 10, tzinfo=BOG)
    platform.advance_to(t0)
    consent_all(platform, t0)
    platform.publish(
        env("cobranza.account.aged", aged_event("dpd_1_30", 1, "COP", "early"), t0), Topics.ACCOUNTS
    )
    platform.publish(
        env("cobranza.account.aged", aged_event("dpd_1_30", 1, "USD", "early"), t0), Topics.ACCOUNTS
    )
    platform.run_until_quiet()
    assert {(c.currency, c.status) for c in plan(platform)} == {("COP", "planned"), ("USD", "planned")}

    cured = aged_event("current", 0, "USD", "current", previous_bucket="dpd_1_30")
    platform.publish(env("cobranza.account.aged", cured, t0), Topics.ACCOUNTS)
    platform.run_until_quiet()
    statuses = {(c.currency, c.step): (c.status, c.reason) for c in plan(platform)}
    assert statuses[("USD", "sms_mora")] == ("cancelled", "USD balance is current")
    assert statuses[("COP", "sms_mora")] == ("planned", None)
    platform.advance_to(datetime(2026, 3, 1, tzinfo=BOG))
    steps = [d["step"] for d in emitted(platform, Topics.CONTACTS, "cobranza.contact.due")]
    assert "sms_mora" in steps and "llamada" in steps  # COP dunning went on


def test_open_promise_in_one_currency_does_not_hold_the_other_currencys_dunning(make_platform) -> None:
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 14, 10, tzinfo=BOG)
    platform.advance_to(t0)
    consent_all(platform, t0)
    usd_promise = {**PROMISE, "amount": "50", "currency": "USD", "due_on": "2026-06-30"}
    platform.publish(env("cobranza.promise.made", usd_promise, t0), Topics.PROMISES)
    platform.publish(
        env("cobranza.account.aged", aged_event("dpd_1_30", 1, "COP", "early"), t0), Topics.ACCOUNTS
    )
    platform.publish(
        env("cobranza.account.aged", aged_event("dpd_1_30", 1, "USD", "early"), t0), Topics.ACCOUNTS
    )
    platform.advance_to(datetime(2026, 1, 20, tzinfo=BOG))
    by_currency = {(c.currency, c.step): (c.status, c.reason) for c in plan(platform)}
    assert by_currency[("USD", "aviso_mora")] == ("skipped", "an open promise to pay in USD")
    assert by_currency[("COP", "aviso_mora")][0] == "due"


BUCKETS_AL_DIA = """
buckets:
  - {name: current, min_dpd: 0, max_dpd: 0, stage: current}
  - {name: late, min_dpd: 1, max_dpd: null, stage: late}
tenants:
  aseguradora_x:
    buckets:
      - {name: al_dia, min_dpd: 0, max_dpd: 0, stage: current}
      - {name: current, min_dpd: 1, max_dpd: 30, stage: early}
      - {name: mora, min_dpd: 31, max_dpd: null, stage: late}
"""


def test_renamed_current_bucket_cures_from_the_tenants_scheme_when_the_event_has_no_stage(
    make_platform, tmp_path
) -> None:
    """Before: cure was the literal bucket name ``current``: ``al_dia`` never cured, ``current`` (1-30) did."""
    (tmp_path / "aging.yaml").write_text(BUCKETS_AL_DIA, encoding="utf-8")
    platform = make_platform(["strategy"])
    platform.context("strategy").extras["config_dir"] = str(tmp_path)
    t0 = datetime(2026, 1, 14, 10, tzinfo=BOG)
    platform.advance_to(t0)
    tenant = "aseguradora_x"
    # this tenant's bucket named "current" is 1-30 days past due: overdue, not cured
    overdue = aged_event("current", 5, "COP", previous_bucket="al_dia")
    platform.publish(env("cobranza.account.aged", overdue, t0, tenant=tenant), Topics.ACCOUNTS)
    platform.run_until_quiet()
    assert {c.status for c in plan(platform, tenant)} == {"planned"}
    cured = aged_event("al_dia", 0, "COP", previous_bucket="current")
    platform.publish(env("cobranza.account.aged", cured, t0, tenant=tenant), Topics.ACCOUNTS)
    platform.run_until_quiet()
    assert {(c.status, c.reason) for c in plan(platform, tenant)} == {("cancelled", "COP balance is current")}
    platform.advance_to(datetime(2026, 3, 1, tzinfo=BOG))
    assert emitted(platform, Topics.CONTACTS, "cobranza.contact.due", tenant) == []


def test_stage_on_the_event_decides_cure_whatever_the_bucket_is_called(make_platform) -> None:
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 14, 10, tzinfo=BOG)
    platform.advance_to(t0)
    platform.publish(
        env("cobranza.account.aged", aged_event("mora_1", 3, "COP", "early"), t0), Topics.ACCOUNTS
    )
    platform.run_until_quiet()
    platform.publish(
        env("cobranza.account.aged", aged_event("al_dia", 0, "COP", "current"), t0), Topics.ACCOUNTS
    )
    platform.run_until_quiet()
    assert {c.status for c in plan(platform)} == {"cancelled"}


def test_customer_keyed_by_customer_id_reaches_every_account_in_its_payload(make_platform) -> None:
    platform = make_platform(["strategy"])
    t0 = datetime(2026, 1, 10, 16, tzinfo=BOG)
    platform.advance_to(t0)
    customer = {**CUSTOMER, "account_ids": ["A1", "A2"]}
    platform.publish(env("cobranza.customer.upserted", customer, t0, subject="C1"), Topics.CUSTOMERS)
    platform.run_until_quiet()
    with platform.context("strategy").sessions() as session:
        rows = session.execute(select(consents).order_by(consents.c.account_id, consents.c.channel)).all()
    assert [(r.account_id, r.channel, r.consent) for r in rows] == [
        ("A1", "email", True),
        ("A1", "sms", False),
        ("A2", "email", True),
        ("A2", "sms", False),
    ]
