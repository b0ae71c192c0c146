"""Every route a person uses to change something leaves before and after in the audit log: the
auditor's ``GET /v1/audit`` (``/v1/auth/audit`` on reconciliation) shows who, what, before, after.
A machine (an ingest or provider key) is not audited as a person."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from sqlalchemy import insert

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.runtime.transport.memory import InMemoryPlatform
from services.notifier.adapters.orm import tasks
from services.segmentation.service_layer.commands import PACKAGED_RULES
from tests.support.auth import KeyedClient, api_client

TENANT = "acme"
_ids = itertools.count(1)


def feed(platform: InMemoryPlatform, event_type: str, data: dict[str, Any]) -> None:
    platform.publish(
        Envelope(
            id=f"core-{next(_ids)}",
            source="/core/billing",
            type=event_type,
            time=platform.clock.now(),
            subject=data.get("account_id"),
            data=data,
            tenantid=TENANT,
        ),
        Topics.INBOUND,
    )
    platform.run_until_quiet()


@pytest.fixture
def platform(make_platform) -> InMemoryPlatform:  # type: ignore[no-untyped-def]
    built: InMemoryPlatform = make_platform(
        ["ingest", "reconciliation", "aging", "segmentation", "strategy", "notifier", "reporting"]
    )
    built.advance_to(datetime(2026, 1, 12, 15, tzinfo=UTC))
    return built


def person(platform: InMemoryPlatform, service: str, role: str) -> KeyedClient:
    return api_client(platform.context(service), role=role, tenant=TENANT)


def audited(platform: InMemoryPlatform, service: str, route: str) -> list[dict[str, Any]]:
    """The auditor's view of ROUTE's rows, newest first (read through SERVICE)."""
    path = "/v1/auth/audit" if service == "reconciliation" else "/v1/audit"
    got = person(platform, service, "auditor").get(path, params={"route": route})
    assert got.status_code == 200, got.text
    rows: list[dict[str, Any]] = got.json()
    return rows


def only(rows: list[dict[str, Any]], role: str, status: int) -> dict[str, Any]:
    assert [(r["role"], r["status"]) for r in rows] == [(role, status)], rows
    row = rows[0]
    assert row["actor"].startswith("key:") and row["actor_kind"] == "api_key" and row["at"]
    return row


def test_a_manual_suspense_match_records_the_suspense_item_open_items_and_allocations(
    platform: InMemoryPlatform,
) -> None:
    customer = {"customer_id": "C-1", "name": "Cliente Uno", "kind": "person", "country": "CO"}
    for invoice_id, amount, due in (("F-1", "300.00", "2026-01-05"), ("F-2", "500.00", "2026-02-05")):
        feed(
            platform,
            "cobranza.invoice.issued",
            {
                "invoice_id": invoice_id,
                "account_id": "A1",
                "customer": {**customer, "timezone": "America/Bogota"},
                "amount": amount,
                "currency": "COP",
                "issued_on": "2026-01-02",
                "due_on": due,
                "product_line": "auto",
                "advisor_id": "ADV1",
                "office_id": "BOG",
                "agency_id": "AG1",
            },
        )
    feed(
        platform,
        "cobranza.payment.received",
        {
            "payment_id": "P-9",
            "amount": "400.00",
            "currency": "COP",
            "received_on": "2026-01-10",
            "method": "nequi",
        },
    )
    route = "/v1/suspense/{payment_id}/apply"
    applied = person(platform, "reconciliation", "supervisor").post(
        "/v1/suspense/P-9/apply", json={"account_id": "A1", "reason": "payer called in", "user": "ana"}
    )
    assert applied.status_code == 200, applied.text
    row = only(audited(platform, "reconciliation", route), "supervisor", 200)
    assert row["service"] == "reconciliation" and row["method"] == "POST"
    assert row["object_ids"] == {"payment_id": "P-9", "account_id": "A1"}
    before = row["before"]
    assert before["suspense"]["status"] == "suspense" and before["suspense"]["amount"] == "400.0000"
    assert before["suspense"]["currency"] == "COP" and "payer_name" not in before["suspense"]
    assert [(i["invoice_id"], i["open_amount"]) for i in before["open_items"]] == [
        ("F-1", "300.0000"),
        ("F-2", "500.0000"),
    ]
    after = row["after"]
    assert [(a["invoice_id"], a["amount"]) for a in after["allocations"]] == [
        ("F-1", "300.0000"),
        ("F-2", "100.0000"),
    ]
    assert after["reason"] == "payer called in" and after["credit_created"] == "0.0000"
    # the same log is readable through any service
    assert audited(platform, "segmentation", route) == [row]


def test_rules_strategies_and_usury_rates_record_what_they_replace(platform: InMemoryPlatform) -> None:
    rules = yaml.safe_load(PACKAGED_RULES.read_text(encoding="utf-8"))
    supervisor = person(platform, "segmentation", "supervisor")
    active = supervisor.get("/v1/rules")
    old_version = active.json()["version"] if active.status_code == 200 else None
    candidate = copy.deepcopy(rules)
    candidate["version"] = "2099.01"
    assert supervisor.put("/v1/rules", json=candidate).status_code == 200
    row = only(audited(platform, "segmentation", "/v1/rules"), "supervisor", 200)
    assert (row["before"] or {}).get("version") == old_version
    assert row["after"]["version"] == "2099.01" and row["after"]["document"]["version"] == "2099.01"
    assert row["object_ids"] == {"rules_version": "2099.01"}

    strategy = person(platform, "strategy", "supervisor")
    steps = [{"name": "aviso", "day": 0, "channel": "email", "template": "aviso_mora"}]
    for _ in range(2):
        created = strategy.post("/v1/strategies", json={"name": "default", "steps": steps})
        assert created.status_code == 201, created.text
    rows = audited(platform, "strategy", "/v1/strategies")
    assert [(r["status"], r["object_ids"]["version"]) for r in rows] == [(201, 3), (201, 2)]
    newest = rows[0]
    assert newest["before"]["version"] == 2 and newest["before"]["document"] == rows[1]["after"]["document"]
    assert newest["after"]["version"] == 3 and newest["after"]["active"] is True

    rates: dict[str, Any] = {
        "country": "CO",
        "rates": [{"from": "2026-01-01", "to": "2026-01-31", "rate": "0.2845"}],
    }
    assert strategy.put("/v1/usury-rates", json=rates).status_code == 200
    rates["rates"][0]["rate"] = "0.2900"
    assert strategy.put("/v1/usury-rates", json=rates).status_code == 200
    rows = audited(platform, "strategy", "/v1/usury-rates")
    assert [r["object_ids"] for r in rows] == [{"country": "CO"}] * 2
    assert rows[1]["before"] == {"rates": []}
    assert [(r["valid_from"], r["rate"]) for r in rows[0]["before"]["rates"]] == [
        ("2026-01-01", "0.28450000")
    ]
    assert rows[0]["after"]["rates"][0]["rate"] == "0.2900"


def test_promises_pauses_resume_and_plans_record_the_state_they_change(platform: InMemoryPlatform) -> None:
    agent = person(platform, "strategy", "agent")
    promise = {"promise_id": "PR-1", "amount": "100.00", "currency": "COP", "due_on": "2026-01-20"}
    assert agent.post("/v1/accounts/A1/promises", json=promise).status_code == 202
    platform.run_until_quiet()
    promise2 = dict(promise, promise_id="PR-2")
    assert agent.post("/v1/accounts/A1/promises", json=promise2).status_code == 202
    rows = audited(platform, "strategy", "/v1/accounts/{account_id}/promises")
    assert [(r["status"], r["object_ids"]) for r in rows] == [
        (202, {"account_id": "A1", "promise_id": "PR-2"}),
        (202, {"account_id": "A1", "promise_id": "PR-1"}),
    ]
    assert rows[1]["before"] == {"open_promises": []}
    assert [p["promise_id"] for p in rows[0]["before"]["open_promises"]] == ["PR-1"]
    assert rows[0]["after"]["published"]["promise_id"] == "PR-2"
    assert rows[0]["after"]["published"]["amount"] == "100.00"

    paused = agent.post("/v1/accounts/A1/pauses", json={"reason": "dispute", "note": "reclamo"})
    assert paused.status_code == 202, paused.text
    platform.run_until_quiet()
    row = only(audited(platform, "strategy", "/v1/accounts/{account_id}/pauses"), "agent", 202)
    assert row["before"] == {"pauses_in_force": []}
    assert row["after"]["published"]["reason"] == "dispute"
    assert row["object_ids"] == {"account_id": "A1", "pause_id": paused.json()["pause_id"]}

    assert agent.post("/v1/accounts/A1/resume", json={"note": "resuelto"}).status_code == 202
    row = only(audited(platform, "strategy", "/v1/accounts/{account_id}/resume"), "agent", 202)
    assert [p["pause_id"] for p in row["before"]["pauses_in_force"]] == [paused.json()["pause_id"]]
    assert row["object_ids"]["pause_ids"] == [paused.json()["pause_id"]]
    assert row["after"]["published"]["note"] == "resuelto"

    plan = {
        "plan_id": "PL-1",
        "currency": "COP",
        "amount": "1200.00",
        "instalments": 3,
        "frequency": "monthly",
        "first_due_on": "2026-02-01",
        "agreed_on": "2026-01-12",
    }
    assert agent.post("/v1/accounts/A1/plans", json=plan).status_code == 202
    row = only(audited(platform, "strategy", "/v1/accounts/{account_id}/plans"), "agent", 202)
    assert row["before"] == {"plans": []} and row["object_ids"] == {"account_id": "A1", "plan_id": "PL-1"}
    assert row["after"]["published"]["plan_id"] == "PL-1" and row["after"]["published"]["instalments"] == 3
    # a refused command is audited too, with what was asked
    bad = agent.post("/v1/accounts/A1/promises", json=dict(promise, promise_id="PR-3", due_on="2025-01-01"))
    assert bad.status_code == 422
    rows = audited(platform, "strategy", "/v1/accounts/{account_id}/promises")
    assert rows[0]["status"] == 422 and rows[0]["after"]["requested"]["promise_id"] == "PR-3"


def test_an_agents_outcome_and_opt_out_record_the_task_before_and_after(platform: InMemoryPlatform) -> None:
    ctx = platform.context("notifier")
    with ctx.engine.begin() as conn:
        conn.execute(
            insert(tasks).values(
                tenant_id=TENANT,
                contact_id="K-1",
                account_id="A1",
                channel="voice",
                strategy="default",
                step="llamada",
                template="llamada_mora",
                language="es",
                scheduled_for=platform.clock.now(),
                status="queued",
                provider="call_center",
                updated_at=platform.clock.now(),
            )
        )
    # a provider (machine) reports: not audited as a person
    provider = person(platform, "notifier", "provider")
    assert provider.post("/v1/tasks/K-1/outcome", json={"status": "no_answer"}).status_code == 200
    assert audited(platform, "notifier", "/v1/tasks/{contact_id}/outcome") == []
    agent = person(platform, "notifier", "agent")  # a call-center agent works the voice queue
    reported = agent.post("/v1/tasks/K-1/outcome", json={"status": "answered", "detail": "pagará"})
    assert reported.status_code == 200, reported.text
    row = only(audited(platform, "notifier", "/v1/tasks/{contact_id}/outcome"), "agent", 200)
    assert row["before"]["status"] == "no_answer" and row["after"]["task"]["status"] == "answered"
    assert row["after"]["requested"]["detail"] == "pagará"
    assert row["object_ids"] == {"contact_id": "K-1", "account_id": "A1"}
    assert (
        person(platform, "notifier", "bi").post("/v1/tasks/K-1/outcome", json={"status": "read"}).status_code
        == 403
    )

    assert agent.post("/v1/tasks/K-1/opt-out", json={"source": "debtor_request"}).status_code == 202
    row = only(audited(platform, "notifier", "/v1/tasks/{contact_id}/opt-out"), "agent", 202)
    assert row["before"]["channel"] == "voice" and row["before"]["status"] == "answered"
    assert row["after"]["published"]["channel"] == "voice"
    assert row["after"]["published"]["source"] == "debtor_request"


def test_a_person_upserting_a_customer_or_reference_records_the_stored_record(
    platform: InMemoryPlatform,
) -> None:
    machine = api_client(platform.context("ingest"), role="ingest", tenant=TENANT, source="core")
    customer = {"name": "Ana Pérez", "email": "ana@example.com", "country": "CO", "account_ids": ["A1"]}
    assert machine.put("/v1/customers/C-7", json=customer).status_code == 200
    assert audited(platform, "ingest", "/v1/customers/{customer_id}") == []  # a machine: not audited

    admin = person(platform, "ingest", "admin")
    changed = admin.put(
        "/v1/customers/C-7",
        json=dict(customer, email="ana.perez@example.com"),
        headers={"X-Source-System": "core"},
    )
    assert changed.status_code == 200, changed.text
    row = only(audited(platform, "ingest", "/v1/customers/{customer_id}"), "admin", 200)
    assert row["before"]["email"] == "ana@example.com" and row["before"]["source"] == "core"
    assert row["after"]["published"]["email"] == "ana.perez@example.com"
    assert row["object_ids"] == {
        "customer_id": changed.json()["customer_id"],
        "source": "core",
        "source_customer_id": "C-7",
    }

    assert admin.put("/v1/reference/offices/BOG", json={"name": "Bogotá"}).status_code == 200
    assert admin.put("/v1/reference/offices/BOG", json={"name": "Bogotá D.C."}).status_code == 200
    rows = audited(platform, "ingest", "/v1/reference/{entity}/{entity_id}")
    assert [r["before"] and r["before"]["data"]["name"] for r in rows] == ["Bogotá", None]
    assert [r["after"]["published"]["name"] for r in rows] == ["Bogotá D.C.", "Bogotá"]
    assert rows[0]["object_ids"] == {
        "entity": "offices",
        "entity_id": "BOG",
        "entity_type": "office",
        "source": "api",
    }
