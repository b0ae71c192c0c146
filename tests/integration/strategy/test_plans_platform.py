"""Payment plans on the in-memory platform: agreed by API, paid from allocations, missed, broken, completed."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from support.auth import api_client

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from services.strategy.adapters.orm import contacts

BOG = ZoneInfo("America/Bogota")
_seq = iter(range(1, 100_000))
AGREED = datetime(2026, 1, 14, 10, tzinfo=BOG)
CUSTOMER = {
    "customer_id": "C1",
    "account_ids": ["A1"],
    "name": "Ana",
    "kind": "person",
    "country": "CO",
    "timezone": "America/Bogota",
    "contact_points": [{"channel": "sms", "value": "+573001234567", "consent": True}],
}


def env(event_type: str, data: dict[str, Any], at: datetime) -> Envelope:
    return Envelope(
        id=f"p{next(_seq)}",
        source="/core",
        type=event_type,
        time=at,
        subject="A1",
        data=data,
        tenantid="default",
    )


def applied(payment_id: str, amount: str, on: datetime) -> Envelope:
    data = {
        "payment_id": payment_id,
        "account_id": "A1",
        "currency": "COP",
        "amount_applied": amount,
        "allocations": [{"invoice_id": "F1", "amount": amount, "invoice_open_amount_after": "0"}],
        "credit_balance_after": "0",
        "rule": "reference",
        "applied_on": on.date().isoformat(),
    }
    return env("cobranza.payment.applied", data, on)


def reversed_(payment_id: str, amount: str, on: datetime) -> Envelope:
    data = {
        "payment_id": payment_id,
        "account_id": "A1",
        "currency": "COP",
        "reopened": [{"invoice_id": "F1", "amount": amount, "invoice_open_amount_after": amount}],
        "credit_balance_after": "0",
        "reversed_on": on.date().isoformat(),
        "reason": "cheque devuelto",
    }
    return env("cobranza.payment.reversal_applied", data, on)


def plan_events(platform, kind: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    out = []
    for p in platform.broker.topics.get(Topics.PROMISES, []):
        body = json.loads(p.record.value or b"")
        if body["type"] == f"cobranza.plan.{kind}":
            out.append(body["data"])
    return out


def _platform(make_platform, plan: dict[str, Any]):  # type: ignore[no-untyped-def]
    platform = make_platform(["strategy"])
    platform.advance_to(AGREED)
    platform.publish(env("cobranza.customer.upserted", CUSTOMER, AGREED), Topics.CUSTOMERS)
    platform.run_until_quiet()
    client = api_client(platform.context("strategy"))
    # the tenant's maximum (an example figure for the test, not an official one)
    loaded = client.put(
        "/v1/usury-rates",
        json={
            "country": "CO",
            "rates": [{"from": "2026-01-01", "to": "2026-12-31", "rate": "0.25", "resolution": "test"}],
        },
    )
    assert loaded.status_code == 200, loaded.text
    answer = client.post("/v1/accounts/A1/plans", json=plan)
    assert answer.status_code == 202, answer.text
    platform.run_until_quiet()
    return platform, client, answer.json()


PLAN = {
    "plan_id": "P1",
    "currency": "COP",
    "amount": "900000",
    "instalments": 3,
    "frequency": "monthly",
    "first_due_on": "2026-02-10",
    "agreed_on": "2026-01-14",
    "late_interest_rate": "0.30",
}


def test_two_paid_third_missed_then_broken_with_capped_late_interest(make_platform) -> None:
    platform, client, agreed = _platform(make_platform, PLAN)
    # 900000 / 3 = 300000.00 each, on 10 Feb, 10 Mar, 10 Apr
    assert [(x["due_on"], x["amount_due"]) for x in agreed["schedule"]] == [
        ("2026-02-10", "300000.00"),
        ("2026-03-10", "300000.00"),
        ("2026-04-10", "300000.00"),
    ]
    for n, day in enumerate(
        (datetime(2026, 2, 10, 12, tzinfo=BOG), datetime(2026, 3, 10, 12, tzinfo=BOG)), 1
    ):
        platform.advance_to(day)
        platform.publish(applied(f"PAY{n}", "300000", day), Topics.ALLOCATIONS)
        platform.run_until_quiet()
    platform.advance_to(datetime(2026, 4, 11, 1, tzinfo=BOG))
    platform.run_until_quiet()
    assert plan_events(platform, "instalment_missed") == [
        {
            "plan_id": "P1",
            "account_id": "A1",
            "currency": "COP",
            "instalment": 3,
            "due_on": "2026-04-10",
            "amount_due": "300000.00",
            "amount_paid": "0.00",
            "outstanding": "300000.00",
        }
    ]
    assert plan_events(platform, "broken") == []
    platform.advance_to(datetime(2026, 4, 21, 1, tzinfo=BOG))  # end of 20 Apr = due + 10 days' grace
    platform.run_until_quiet()
    # late interest 11..20 Apr (10 days) at the cap 25 % E.A. (the plan's 30 % is above it):
    # daily (1.25)^(1/365) - 1 = 0.000611539109; 300000 * 10 * 0.000611539109 = 1834.617 -> 1834.62
    [broken] = plan_events(platform, "broken")
    assert broken["instalment"] == 3 and broken["broken_on"] == "2026-04-20" and broken["grace_days"] == 10
    assert broken["outstanding"] == "300000.00" and broken["late_interest"] == "1834.62"
    shown = client.get("/v1/plans/P1").json()
    assert shown["status"] == "broken"
    third = shown["lines"][2]
    assert third["capped"] is True and third["rate_applied"] == "0.25" and third["status"] == "overdue"
    assert [x["paid_on"] for x in shown["lines"][:2]] == ["2026-02-10", "2026-03-10"]
    assert shown["late_interest_convention"] == "actual/365, compound-equivalent daily rate"
    assert client.get("/v1/plans/P1", headers={"X-Cobranza-Tenant": "other"}).status_code in (403, 404)


def test_reversal_reopens_an_instalment_and_a_plan_paid_in_full_completes(make_platform) -> None:
    plan = {**PLAN, "plan_id": "P2", "amount": "200000", "instalments": 2}
    platform, client, _ = _platform(make_platform, plan)
    day = datetime(2026, 2, 9, 12, tzinfo=BOG)
    platform.advance_to(day)
    platform.publish(applied("PAY1", "100000", day), Topics.ALLOCATIONS)
    platform.run_until_quiet()
    assert client.get("/v1/plans/P2").json()["lines"][0]["status"] == "paid"
    platform.publish(reversed_("PAY1", "100000", day), Topics.ALLOCATIONS)
    platform.run_until_quiet()
    first = client.get("/v1/plans/P2").json()["lines"][0]
    assert first["paid"] == "0.00" and first["paid_on"] is None and first["status"] == "pending"
    platform.publish(applied("PAY2", "200000", day), Topics.ALLOCATIONS)
    platform.run_until_quiet()
    [done] = plan_events(platform, "completed")
    assert done["amount_paid"] == "200000.00" and done["completed_on"] == "2026-02-09"
    assert client.get("/v1/accounts/A1/plans").json()[0]["status"] == "completed"
    # the reminders (3 days before each instalment at 09:00, sms): the first fired through the
    # contact policy on 7 Feb (due), the second went with the completed plan
    with platform.context("strategy").sessions() as session:
        reminders = session.execute(
            select(contacts.c.step, contacts.c.status, contacts.c.reason)
            .where(contacts.c.kind == "plan_reminder")
            .order_by(contacts.c.planned_for)
        ).all()
    assert [tuple(r) for r in reminders] == [
        ("instalment-1-3d", "due", None),
        ("instalment-2-3d", "cancelled", "plan completed"),
    ]
    platform.advance_to(datetime(2026, 2, 12, tzinfo=BOG))
    platform.run_until_quiet()
    assert plan_events(platform, "instalment_missed") == []


def test_bad_plan_is_422_with_field_paths(make_platform) -> None:
    platform = make_platform(["strategy"])
    client = api_client(platform.context("strategy"))
    answer = client.post("/v1/accounts/A1/plans", json={**PLAN, "instalments": 0, "frequency": "daily"})
    assert answer.status_code == 422
    locs = {tuple(e["loc"]) for e in answer.json()["detail"]}
    assert ("body", "instalments") in locs and ("body", "frequency") in locs
