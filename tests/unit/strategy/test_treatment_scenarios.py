"""Treatment on the in-memory platform: pauses, escalation after a broken promise or plan, versions, API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select
from support.auth import api_client

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from services.strategy.adapters.orm import contacts

BOG = ZoneInfo("America/Bogota")
_seq = iter(range(1, 100_000))
ENTERED = datetime(2026, 1, 14, 10, tzinfo=BOG)  # a Wednesday: aviso_mora goes at once


def env(event_type: str, data: dict[str, Any], at: datetime, tenant: str = "default") -> Envelope:
    return Envelope(
        id=f"t{next(_seq)}",
        source="/core",
        type=event_type,
        time=at,
        subject=data.get("account_id", "A1"),
        data=data,
        tenantid=tenant,
    )


def due_contacts(platform, tenant: str = "default") -> list[dict[str, Any]]:
    out = []
    for p in platform.broker.topics.get(Topics.CONTACTS, []):
        body = json.loads(p.record.value or b"")
        if body["type"] == "cobranza.contact.due" and body.get("tenantid", "default") == tenant:
            out.append(body["data"])
    return out


def sent_steps(platform) -> list[tuple[str, datetime]]:
    return [(d["step"], datetime.fromisoformat(d["scheduled_for"])) for d in due_contacts(platform)]


CUSTOMER = {
    "customer_id": "C1",
    "account_ids": ["A1"],
    "name": "Ana",
    "kind": "person",
    "country": "CO",
    "timezone": "America/Bogota",
    "contact_points": [
        {"channel": "email", "value": "ana@example.com", "consent": True},
        {"channel": "sms", "value": "+573001234567", "consent": True},
        {"channel": "voice", "value": "+573001234567", "consent": True},
        {"channel": "letter", "value": "Calle 1 # 2-3", "consent": True},
    ],
}
AGED = {
    "account_id": "A1",
    "bucket": "dpd_1_30",
    "stage": "early",
    "days_past_due": 1,
    "overdue_amount": "100000",
    "currency": "COP",
}


def overdue_account(make_platform):  # type: ignore[no-untyped-def]
    platform = make_platform(["strategy"])
    platform.advance_to(ENTERED)
    platform.publish(env("cobranza.customer.upserted", CUSTOMER, ENTERED), Topics.CUSTOMERS)
    platform.run_until_quiet()
    platform.publish(env("cobranza.account.aged", AGED, ENTERED), Topics.ACCOUNTS)
    platform.run_until_quiet()
    platform.advance_to(ENTERED + timedelta(hours=1))
    assert [s for s, _ in sent_steps(platform)] == ["aviso_mora"]
    return platform


def client(platform) -> TestClient:  # type: ignore[no-untyped-def]
    return api_client(platform.context("strategy"))


def test_hardship_pause_is_silent_until_its_date_then_resumes_at_the_step_the_state_calls_for(
    make_platform,
) -> None:
    platform = overdue_account(make_platform)
    platform.advance_to(datetime(2026, 1, 15, 9, tzinfo=BOG))
    api = client(platform)
    answer = api.post(
        "/v1/accounts/A1/pauses",
        json={"reason": "hardship", "until": "2026-01-31", "note": "lost her job"},
        headers={"X-Cobranza-Agent": "agente7"},
    )
    assert answer.status_code == 202, answer.text
    assert (answer.json()["reason"], answer.json()["agent_id"]) == ("hardship", "agente7")
    platform.run_until_quiet()
    with platform.context("strategy").sessions() as session:
        held = {r.step: (r.status, r.reason) for r in session.execute(select(contacts))}
    assert held["sms_mora"] == ("cancelled", "collection paused: hardship")
    [pause] = api.get("/v1/accounts/A1/pauses").json()
    assert (pause["reason"], pause["in_force"], pause["agent_id"]) == ("hardship", True, "agente7")

    platform.advance_to(datetime(2026, 1, 31, 23, 59, tzinfo=BOG))  # the last paused day, all of it
    assert [s for s, _ in sent_steps(platform)] == ["aviso_mora"]

    platform.advance_to(datetime(2026, 2, 20, tzinfo=BOG))
    # sms_mora (21st) and llamada (28th) passed while paused: only llamada, at the first legal slot
    # after midnight (Sunday 1 Feb: Monday 07:00); carta_cobro keeps its day (13 Feb); no burst
    assert sent_steps(platform) == [
        ("aviso_mora", ENTERED),
        ("llamada", datetime(2026, 2, 2, 7, tzinfo=BOG)),
        ("carta_cobro", datetime(2026, 2, 13, 9, tzinfo=BOG)),
    ]
    [pause] = api.get("/v1/accounts/A1/pauses").json()
    assert (pause["in_force"], pause["ended_by"]) == (False, "until")


def test_deceased_is_silent_for_good_until_an_explicit_resume(make_platform) -> None:
    platform = overdue_account(make_platform)
    paused = {"account_id": "A1", "reason": "deceased", "until": "2026-01-20"}  # until is ignored
    platform.publish(env("cobranza.collection.paused", paused, ENTERED), Topics.PROMISES)
    invoice = {
        "invoice_id": "I9",
        "account_id": "A1",
        "customer": {k: CUSTOMER[k] for k in ("customer_id", "name", "kind", "country", "timezone")},
        "amount": "50000.00",
        "currency": "COP",
        "issued_on": "2026-03-01",
        "due_on": "2026-09-30",
        "product_line": "auto",
    }
    platform.publish(env("cobranza.invoice.issued", invoice, ENTERED), Topics.INVOICES)
    platform.advance_to(datetime(2026, 9, 1, tzinfo=BOG))
    assert [s for s, _ in sent_steps(platform)] == ["aviso_mora"]
    [pause] = client(platform).get("/v1/accounts/A1/pauses").json()
    assert (pause["in_force"], pause["ends_at"]) == (True, None)

    assert client(platform).post("/v1/accounts/A1/resume", json={"agent_id": "sup1"}).status_code == 202
    platform.advance_to(datetime(2026, 10, 1, tzinfo=BOG))
    steps = [s for s, _ in sent_steps(platform)]
    # the pre-due reminder held by the pause is ahead again; dunning resumes at its latest step
    assert steps == ["aviso_mora", "carta_cobro", "recordatorio_previo"]
    [pause] = client(platform).get("/v1/accounts/A1/pauses").json()
    assert (pause["ended_by"], pause["resumed_by"]) == ("resumed", "sup1")


def test_a_broken_promise_escalates_to_the_agent_call_within_the_week(make_platform) -> None:
    platform = overdue_account(make_platform)
    platform.advance_to(datetime(2026, 1, 22, 10, tzinfo=BOG))
    assert [s for s, _ in sent_steps(platform)] == ["aviso_mora", "sms_mora"]
    promise = {"amount": "100000", "currency": "COP", "due_on": "2026-01-26", "promise_id": "P1"}
    answer = client(platform).post("/v1/accounts/A1/promises", json=promise)
    assert answer.status_code == 202, answer.text
    assert (answer.json()["made_via"], answer.json()["status"]) == ("agent", "open")
    assert answer.json()["agent_id"].startswith("key:")  # no agent named: the credential's subject
    platform.advance_to(datetime(2026, 1, 27, 12, tzinfo=BOG))  # broken at 00:00 on the 27th
    broken = datetime(2026, 1, 27, tzinfo=BOG)
    calls = [at for step, at in sent_steps(platform) if step == "llamada"]
    assert calls == [datetime(2026, 1, 27, 7, tzinfo=BOG)]  # at once (its own day was the 28th)
    assert calls[0] - broken < timedelta(days=7)
    with platform.context("strategy").sessions() as session:
        rows = {(r.step, r.status): r.reason for r in session.execute(select(contacts))}
    assert rows[("llamada", "cancelled")] == "replaced by escalation after broken promise P1"
    platform.advance_to(datetime(2026, 2, 20, tzinfo=BOG))
    assert [s for s, _ in sent_steps(platform)] == ["aviso_mora", "sms_mora", "llamada", "carta_cobro"]


def _applied(payment_id: str, amount: str, on: datetime) -> Envelope:
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


def dunning_steps(platform) -> list[tuple[str, datetime]]:  # type: ignore[no-untyped-def]
    """Steps of the account's playbook (the plan's own instalment reminders left out)."""
    return [
        (d["step"], datetime.fromisoformat(d["scheduled_for"]))
        for d in due_contacts(platform)
        if not d["step"].startswith("instalment-")
    ]


def test_a_payment_plan_holds_dunning_and_its_break_escalates(make_platform) -> None:
    """Down payment paid, instalment 1 (due 15 Feb) never: no dunning while the plan is on track,
    broken by the plan engine after its 10 days of grace (end of 25 Feb), then sms_mora at once."""
    platform = overdue_account(make_platform)
    agreed = {
        "plan_id": "PL1",
        "account_id": "A1",
        "currency": "COP",
        "amount": "100000",
        "down_payment": "10000",
        "instalments": 3,
        "frequency": "monthly",
        "first_due_on": "2026-02-15",
        "agreed_on": "2026-01-15",
    }
    platform.publish(env("cobranza.plan.agreed", agreed, ENTERED + timedelta(days=1)), Topics.PROMISES)
    platform.run_until_quiet()
    on = datetime(2026, 1, 15, 12, tzinfo=BOG)
    platform.advance_to(on)
    platform.publish(_applied("PAY-DOWN", "10000", on), Topics.ALLOCATIONS)
    platform.advance_to(datetime(2026, 2, 25, 23, tzinfo=BOG))
    assert [s for s, _ in dunning_steps(platform)] == ["aviso_mora"]
    platform.advance_to(datetime(2026, 2, 27, tzinfo=BOG))
    # nothing after aviso_mora was sent: the plan's break starts again at sms_mora, on Thursday 26 Feb
    assert dunning_steps(platform)[1:] == [("sms_mora", datetime(2026, 2, 26, 7, tzinfo=BOG))]


def test_a_new_strategy_version_plans_contacts_and_a_bad_one_is_rejected_naming_the_step(
    make_platform,
) -> None:
    platform = make_platform(["strategy"])
    platform.advance_to(ENTERED)
    api = client(platform)
    assert [(s["name"], s["version"]) for s in api.get("/v1/strategies").json()] == [
        ("default", 1),
        ("dpd_61_90", 1),
        ("dpd_91_180", 1),
    ]
    bad = {
        "name": "default",
        "steps": [
            {"name": "a", "day": 0, "channel": "email", "template": "aviso_mora"},
            {"name": "b", "day": 2, "channel": "sms", "template": "sms_mora"},
            {"name": "c", "day": 4, "channel": "fax", "template": "carta_cobro"},
        ],
    }
    rejected = api.post("/v1/strategies", json=bad)
    assert rejected.status_code == 422
    [problem] = rejected.json()["detail"]
    assert problem["loc"] == ["body", "steps", 2, "channel"]
    assert problem["msg"].startswith("steps[2].channel: unknown channel 'fax'")

    good = {**bad, "steps": bad["steps"][:2], "created_by": "jefe_cobranza"}
    created = api.post("/v1/strategies", json=good)
    assert created.status_code == 201, created.text
    assert (created.json()["version"], created.json()["active"]) == (2, True)
    history = api.get("/v1/strategies/default/versions").json()
    assert [(v["version"], v["active"], v["created_by"]) for v in history] == [
        (2, True, "jefe_cobranza"),
        (1, False, "config"),
    ]
    assert api.get("/v1/strategies/nope/versions").status_code == 404

    platform.publish(env("cobranza.customer.upserted", CUSTOMER, ENTERED), Topics.CUSTOMERS)
    platform.run_until_quiet()
    platform.publish(env("cobranza.account.aged", AGED, ENTERED), Topics.ACCOUNTS)
    platform.advance_to(datetime(2026, 1, 20, tzinfo=BOG))
    assert [(d["step"], d["strategy"], d["strategy_version"]) for d in due_contacts(platform)] == [
        ("a", "default", 2),
        ("b", "default", 2),
    ]


def test_agent_commands_answer_422_with_field_paths(make_platform) -> None:
    platform = make_platform(["strategy"])
    platform.advance_to(datetime(2026, 1, 15, 12, tzinfo=UTC))
    api = client(platform)

    def loc(path: str, body: dict[str, Any]) -> list[Any]:
        answer = api.post(path, json=body)
        assert answer.status_code == 422, answer.text
        return [e["loc"] for e in answer.json()["detail"]]

    promise = {"amount": "100", "currency": "COP", "due_on": "2026-01-20"}
    assert loc("/v1/accounts/A1/promises", {**promise, "amount": "0"}) == [["body", "amount"]]
    assert loc("/v1/accounts/A1/promises", {**promise, "due_on": "2026-01-14"}) == [["body", "due_on"]]
    assert loc("/v1/accounts/A1/promises", {**promise, "currency": "pesos"}) == [["body", "currency"]]
    assert loc("/v1/accounts/A1/promises", {**promise, "made_via": "fax"}) == [["body", "made_via"]]
    assert loc("/v1/accounts/A1/pauses", {"reason": "vacation"}) == [["body", "reason"]]
    assert loc("/v1/accounts/A1/pauses", {"reason": "dispute", "until": "2026-01-01"}) == [["body", "until"]]
    assert loc("/v1/strategies", {"name": "x", "steps": [{"name": "a", "channel": "sms"}]}) == [
        ["body", "steps", 0, "template"],
        ["body", "steps", 0],
    ]
    # accepted, published and applied like the event: the promise is there for the tenant only
    assert api.post("/v1/accounts/A1/promises", json={**promise, "promise_id": "P7"}).status_code == 202
    platform.run_until_quiet()
    assert [p["promise_id"] for p in api.get("/v1/accounts/A1/promises").json()] == ["P7"]
    assert api.post("/v1/accounts/A1/promises", json={**promise, "promise_id": "P7"}).status_code == 409
    assert api.get("/v1/accounts/A1/pauses", headers={"X-Cobranza-Tenant": "otro"}).status_code == 404


def test_paused_accounts_answers_the_firing_side_in_one_query(make_platform) -> None:
    from services.strategy.adapters.repository import paused_accounts

    platform = make_platform(["strategy"])
    platform.advance_to(ENTERED)
    for account, reason, until in (("A1", "hardship", "2026-01-20"), ("A2", "bankruptcy", "2026-01-15")):
        body = {"account_id": account, "reason": reason, "until": until}
        platform.publish(env("cobranza.collection.paused", body, ENTERED), Topics.PROMISES)
    platform.run_until_quiet()
    ctx = platform.context("strategy")
    with ctx.sessions() as session:
        ids = ["A1", "A2", "A3"]
        assert paused_accounts(session, "default", ids, ENTERED) == {"A1", "A2"}
        after = datetime(2026, 1, 21, tzinfo=BOG)  # A1's last day is over; bankruptcy never ends
        assert paused_accounts(session, "default", ids, after) == {"A2"}
        assert paused_accounts(session, "otro", ids, ENTERED) == set()
