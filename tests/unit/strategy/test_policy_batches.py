"""Contact outcomes, opt-outs and due steps: a whole batch gives what one event at a time gives,
in a number of statements that does not grow with the batch."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from support.batches import Build, counted_statements, one_service_platforms, table_rows

from libs.events.envelope import Envelope
from libs.events.registry import model_for
from libs.runtime.transport.memory import InMemoryPlatform

T0 = datetime(2026, 1, 14, 15, tzinfo=UTC)  # Wednesday 10:00 in Bogotá


@pytest.fixture
def build(service_database) -> Iterator[Build]:  # type: ignore[no-untyped-def]
    with one_service_platforms(service_database, "strategy", T0) as make:
        yield make


def publish(platform: InMemoryPlatform, event_type: str, data: dict[str, Any], at: datetime, n: int) -> None:
    envelope = Envelope(
        id=f"{event_type}-{n}",
        source="/test",
        type=event_type,
        time=at,
        subject=data.get("account_id", "C"),
        data=data,
        tenantid="default",
    )
    platform.publish(envelope, model_for(event_type).topic)


def feed(platform: InMemoryPlatform, accounts: list[str]) -> None:
    for i, a in enumerate(accounts):
        customer = {
            "customer_id": f"C-{a}",
            "account_ids": [a],
            "name": "Ana",
            "kind": "person",
            "country": "US" if i % 2 else "CO",
            "timezone": "America/Chicago" if i % 2 else "America/Bogota",
            "contact_points": [
                {"channel": "email", "value": "ana@example.com", "consent": True},
                {"channel": "sms", "value": "+573001234567", "consent": True},
                {"channel": "voice", "value": "+573001234567", "consent": i % 3 != 0},
            ],
        }
        publish(platform, "cobranza.customer.upserted", customer, T0, i)
    platform.run_until_quiet()
    for i, a in enumerate(accounts):
        aged = {
            "account_id": a,
            "bucket": "dpd_1_30",
            "stage": "early",
            "days_past_due": 1,
            "overdue_amount": "100",
            "currency": "COP",
        }
        publish(platform, "cobranza.account.aged", aged, T0, i)
    platform.run_until_quiet()
    later = T0 + timedelta(days=2)
    platform.advance_to(later)
    for i, a in enumerate(accounts):
        status = ("answered", "read", "delivered", "no_answer")[i % 4]
        channel = "voice" if i % 2 else "email"
        outcome = {
            "contact_id": f"X-{a}",
            "account_id": a,
            "channel": channel,
            "status": status,
            "occurred_at": (later - timedelta(hours=i % 5)).isoformat(),
        }
        publish(platform, "cobranza.contact.outcome", outcome, later, i)
        if i % 3 == 1:
            opt = {
                "account_id": a,
                "channel": "sms",
                "occurred_at": later.isoformat(),
                "source": "stop_reply",
            }
            publish(platform, "cobranza.contact.opted_out", opt, later, i)
    platform.run_until_quiet()


def outcome(platform: InMemoryPlatform) -> tuple[list[str], dict[str, Counter[str]]]:
    emitted = []
    for published in platform.broker.log:
        body = json.loads(published.record.value or b"")
        if body["source"] == "/cobranza/strategy":
            body.pop("traceparent", None)
            emitted.append(json.dumps(body, sort_keys=True))
    ctx = platform.context("strategy")
    rows = table_rows(ctx, include=lambda table: table.name != "decisions")
    table = ctx.spec.metadata.tables["strategy.decisions"]
    with ctx.sessions() as session:
        columns = [c for c in table.columns if c.name != "decision_id"]
        rows["decisions"] = Counter(
            json.dumps(list(r), default=str, sort_keys=True) for r in session.execute(select(*columns))
        )
    return sorted(emitted), rows


def test_contact_events_and_due_steps_in_one_batch_give_what_one_at_a_time_gives(build: Build) -> None:
    accounts = [f"A{n}" for n in range(12)]
    results = []
    for size in (None, 1):
        platform = build(size)
        feed(platform, accounts)
        platform.advance_to(T0 + timedelta(days=30))
        results.append(outcome(platform))
    (batched, batched_rows), (single, single_rows) = results
    assert batched == single
    assert batched_rows == single_rows
    assert sum(batched_rows["contact_history"].values()) == 6  # answered and read outcomes only
    suppressed = [json.loads(r) for r in batched_rows["decisions"] if '"suppressed"' in r]
    assert any("opted out of sms" in " ".join(map(str, r)) for r in suppressed)


def test_statements_do_not_grow_with_the_batch(build: Build) -> None:
    counts = []
    for n in (4, 16):
        platform = build(None)
        accounts = [f"A{i}" for i in range(n)]
        feed(platform, accounts)
        with counted_statements(platform.context("strategy").engine) as statements:
            platform.advance_to(T0 + timedelta(days=30))
        counts.append(len(statements))
    assert counts[0] == counts[1]
