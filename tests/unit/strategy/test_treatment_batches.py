"""Treatment events in one batch give what one event at a time gives, in a bounded number of statements.

Order matters here: a pause and a resume in the same batch, a pause over another, a plan agreed
and broken before the next batch, a promise broken while the account is paused (no escalation)
and after (escalation).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from support.batches import Build, counted_statements, one_service_platforms, table_rows

from libs.events.envelope import Envelope
from libs.events.registry import model_for
from libs.runtime.transport.memory import InMemoryPlatform

T0 = datetime(2026, 1, 5, 15, tzinfo=UTC)
END = datetime(2026, 3, 15, tzinfo=UTC)


@pytest.fixture
def build(service_database) -> Iterator[Build]:  # type: ignore[no-untyped-def]
    with one_service_platforms(service_database, "strategy", T0) as make:
        yield make


def _customer(account: str) -> dict[str, Any]:
    return {
        "customer_id": f"C-{account}",
        "account_ids": [account],
        "name": "Ana",
        "kind": "person",
        "country": "CO",
        "timezone": "America/Bogota",
        "contact_points": [
            {"channel": channel, "value": "ana@example.com", "consent": True}
            for channel in ("email", "sms", "voice", "letter")
        ],
    }


def _aged(account: str, currency: str = "COP") -> dict[str, Any]:
    return {
        "account_id": account,
        "bucket": "dpd_1_30",
        "stage": "early",
        "days_past_due": 3,
        "overdue_amount": "100",
        "currency": currency,
    }


def _broken(account: str, promise: str) -> dict[str, Any]:
    return {
        "promise_id": promise,
        "account_id": account,
        "promised_amount": "50",
        "paid_amount": "0",
        "currency": "COP",
        "due_on": "2026-01-04",
    }


def _plan(account: str, kind: str) -> dict[str, Any]:
    body: dict[str, Any] = {"plan_id": f"{account}-PL", "account_id": account, "currency": "USD"}
    if kind == "agreed":
        return {
            **body,
            "amount": "100",
            "instalments": 2,
            "frequency": "monthly",
            "first_due_on": "2026-02-01",
            "agreed_on": "2026-01-05",
        }
    return {
        **body,
        "instalment": 1,
        "due_on": "2026-02-01",
        "grace_days": 10,
        "broken_on": "2026-02-11",
        "outstanding": "100",
        "late_interest": "0",
    }


def scenario(account: str) -> list[list[tuple[str, dict[str, Any]]]]:
    return [
        [("cobranza.customer.upserted", _customer(account))],
        [
            ("cobranza.account.aged", _aged(account)),
            ("cobranza.account.aged", _aged(account, "USD")),
            ("cobranza.plan.agreed", _plan(account, "agreed")),
        ],
        [
            ("cobranza.collection.paused", {"account_id": account, "reason": "dispute"}),
            ("cobranza.collection.resumed", {"account_id": account}),  # the same batch
            (
                "cobranza.collection.paused",
                {"account_id": account, "reason": "hardship", "until": "2026-01-20"},
            ),
            (
                "cobranza.collection.paused",
                {"account_id": account, "reason": "legal_hold", "until": "2026-01-25"},
            ),
            ("cobranza.promise.broken", _broken(account, f"{account}-P1")),  # paused: no escalation
        ],
        [
            ("cobranza.plan.broken", _plan(account, "broken")),  # still paused: held
        ],
    ]


PHASES = 4


def publish(
    platform: InMemoryPlatform, accounts: list[str], phase: int, tenants: tuple[str, ...] = ("t1", "t2")
) -> None:
    for tenant in tenants:
        for account in accounts:
            for n, (event_type, data) in enumerate(scenario(account)[phase]):
                envelope = Envelope(
                    id=f"{tenant}-{account}-{phase}-{n}",
                    source="/test",
                    type=event_type,
                    time=T0,
                    subject=data.get("account_id") or data["customer_id"],
                    data=data,
                    tenantid=tenant,
                )
                platform.publish(envelope, model_for(event_type).topic)


def decision_rows(ctx: Any) -> Counter[str]:
    with ctx.sessions() as session:
        table = ctx.spec.metadata.tables["strategy.decisions"]
        columns = [c for c in table.columns if c.name != "decision_id"]
        return Counter(json.dumps(list(r), default=str) for r in session.execute(select(*columns)))


def outcome(platform: InMemoryPlatform) -> tuple[list[str], dict[str, Counter[str]]]:
    emitted = []
    for published in platform.broker.log:
        body = json.loads(published.record.value or b"")
        if body["source"] == "/cobranza/strategy":
            body.pop("traceparent", None)
            emitted.append(json.dumps(body, sort_keys=True))
    ctx = platform.context("strategy")
    rows = table_rows(ctx, include=lambda table: table.name != "decisions")
    # the decision log's ids number rows in arrival order, which batching changes across tenants
    rows["decisions"] = decision_rows(ctx)
    return emitted, rows


def test_treatment_in_one_batch_gives_what_one_event_at_a_time_gives(build: Build) -> None:
    runs = []
    for batch_size in (None, 1):
        platform = build(batch_size)
        for phase in range(PHASES):
            publish(platform, ["A1", "A2"], phase)
            platform.run_until_quiet()
        if batch_size is None:
            assert max(r.processed for r in platform.results) > 1, "events went in batches"
        platform.advance_to(END)
        runs.append(outcome(platform))
    (batched, batched_rows), (single, single_rows) = runs
    assert batched == single
    assert batched_rows == single_rows
    due = [json.loads(e)["data"] for e in batched if json.loads(e)["type"] == "cobranza.contact.due"]
    # nothing between the pause (5 Jan) and the end of the legal hold (25 Jan), then contacts again
    moments = sorted(datetime.fromisoformat(d["scheduled_for"]) for d in due)
    assert moments and all(
        m < datetime(2026, 1, 6, tzinfo=UTC) or m >= datetime(2026, 1, 26, 5, tzinfo=UTC) for m in moments
    )
    assert any(m >= datetime(2026, 1, 26, 5, tzinfo=UTC) for m in moments)


def test_treatment_batches_cost_the_same_statements_whatever_their_size(build: Build) -> None:
    counts = []
    for accounts in (2, 20):
        platform = build(None)
        with counted_statements(platform.context("strategy").engine) as statements:
            for phase in range(PHASES):
                publish(platform, [f"A{n}" for n in range(accounts)], phase, tenants=("t1",))
                platform.run_until_quiet()
        assert sum(r.processed for r in platform.results) == 10 * accounts
        counts.append(len(statements))
    assert counts[0] == counts[1]
