"""One batch handler call holding an account's events of SEVERAL topics gives what one event at a time gives.

A Kafka poll of several topics, or a simulator step that merges a service's topics in publication
order, hands strategy an account's invoice, aging, segment change, payment and promise in one
call. The in-memory transport delivers topic by topic, so this test drives a platform that hands
each service everything waiting on all its topics as one batch in publication order (or one
record at a time: the reference), with contact timers and promise deadlines firing between the
steps. Emitted events per account (in order), the decision log and every table must agree.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from support.batches import table_rows

from libs.events.envelope import Envelope
from libs.events.registry import model_for
from libs.platform.registry import load_spec
from libs.runtime.clock import SimulatedClock
from libs.runtime.context import ServiceContext
from libs.runtime.ids import SequentialIdFactory
from libs.runtime.transport.memory import InMemoryPlatform, MemoryBroker

T0 = datetime(2026, 1, 5, 15, tzinfo=UTC)
ACCOUNTS = ("A1", "A2", "A3")


@pytest.fixture
def build(service_database) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    contexts: list[ServiceContext] = []

    def make(batch_size: int | None) -> InMemoryPlatform:
        clock = SimulatedClock(T0)
        ctx = ServiceContext.create(
            load_spec("strategy"), service_database(["strategy"]), clock=clock, ids=SequentialIdFactory("t")
        )
        contexts.append(ctx)
        # everything waiting on all of strategy's topics, in publication order, as one batch (or in
        # batches of ``batch_size``): what one poll of several Kafka topics can deliver
        return InMemoryPlatform([ctx], MemoryBroker(clock), clock, batch_size=batch_size, merge_topics=True)

    yield make
    for ctx in contexts:
        ctx.dispose()


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


def _invoice(invoice_id: str, account: str, issued_on: str, due_on: str) -> dict[str, Any]:
    return {
        "invoice_id": invoice_id,
        "account_id": account,
        "customer": {
            "customer_id": f"C-{account}",
            "name": "Ana",
            "kind": "person",
            "country": "CO",
            "timezone": "America/Bogota",
        },
        "amount": "100000.00",
        "currency": "COP",
        "issued_on": issued_on,
        "due_on": due_on,
        "product_line": "auto",
    }


def _aged(account: str, bucket: str, stage: str, dpd: int) -> dict[str, Any]:
    return {
        "account_id": account,
        "bucket": bucket,
        "stage": stage,
        "days_past_due": dpd,
        "overdue_amount": "0" if dpd == 0 else "100000",
        "currency": "COP",
    }


def _applied(payment_id: str, account: str, amount: str, on: str) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "account_id": account,
        "currency": "COP",
        "amount_applied": amount,
        "allocations": [{"invoice_id": "I1", "amount": amount, "invoice_open_amount_after": "0"}],
        "credit_created": "0",
        "credit_balance_after": "0",
        "rule": "reference",
        "applied_on": on,
    }


def _promise(promise_id: str, account: str, amount: str, due_on: str) -> dict[str, Any]:
    return {
        "promise_id": promise_id,
        "account_id": account,
        "amount": amount,
        "currency": "COP",
        "due_on": due_on,
        "made_via": "call_center",
    }


Step = list[tuple[str, dict[str, Any]]]


def _broken(account: str, promise_id: str) -> dict[str, Any]:
    return {
        "promise_id": promise_id,
        "account_id": account,
        "promised_amount": "50000",
        "paid_amount": "0",
        "currency": "COP",
        "due_on": "2026-01-28",
    }


def steps(account: str, n: int) -> list[tuple[datetime, Step]]:
    """An account's two months, step by step: each step's events interleave several topics, as
    aging, segmentation, ingest, reconciliation and strategy itself publish them on one day."""
    seg = "dpd_61_90" if n % 2 else "default"
    paused = n == 2
    return [
        (
            T0,
            [
                ("cobranza.customer.upserted", _customer(account)),
                ("cobranza.invoice.issued", _invoice(f"{account}-I1", account, "2026-01-05", "2026-01-12")),
                ("cobranza.invoice.issued", _invoice(f"{account}-I2", account, "2026-01-05", "2026-02-12")),
            ],
        ),
        (
            T0 + timedelta(days=8),  # the day after I1's due date
            [
                ("cobranza.account.aged", _aged(account, "dpd_1_30", "early", 1)),
                ("cobranza.segment.changed", {"account_id": account, "segment": seg}),
                ("cobranza.invoice.issued", _invoice(f"{account}-I3", account, "2026-01-13", "2026-02-20")),
                ("cobranza.payment.applied", _applied(f"{account}-X1", account, "100", "2026-01-13")),
                ("cobranza.account.aged", _aged(account, "dpd_1_30", "early", 1)),
            ],
        ),
        (
            T0 + timedelta(days=12),
            [
                ("cobranza.promise.made", _promise(f"{account}-P1", account, "50000", "2026-01-20")),
                ("cobranza.account.aged", _aged(account, "dpd_1_30", "early", 5)),
                ("cobranza.segment.changed", {"account_id": account, "segment": "dpd_61_90"}),
                ("cobranza.payment.applied", _applied(f"{account}-X2", account, "20000", "2026-01-17")),
            ],
        ),
        (
            T0 + timedelta(days=17),  # P1 broke at its due end (escalation on its own event)
            [
                ("cobranza.segment.changed", {"account_id": account, "segment": "dpd_91_180"}),
                ("cobranza.account.aged", _aged(account, "dpd_1_30", "early", 10)),
                ("cobranza.payment.applied", _applied(f"{account}-X3", account, "1000", "2026-01-22")),
                ("cobranza.segment.changed", {"account_id": account, "segment": seg}),
                *(
                    [("cobranza.collection.paused", {"account_id": account, "reason": "dispute"})]
                    if paused
                    else []
                ),
            ],
        ),
        (
            T0 + timedelta(days=26),  # a new bucket: a new episode, whose sent steps start over
            [
                ("cobranza.account.aged", _aged(account, "dpd_31_60", "late", 19)),
                *([("cobranza.collection.resumed", {"account_id": account})] if paused else []),
                ("cobranza.promise.broken", _broken(account, f"{account}-P9")),
                ("cobranza.payment.applied", _applied(f"{account}-X4", account, "1000", "2026-01-31")),
            ],
        ),
        (
            T0 + timedelta(days=33),
            [
                ("cobranza.payment.applied", _applied(f"{account}-X5", account, "100000", "2026-02-07")),
                ("cobranza.account.aged", _aged(account, "current", "current", 0)),
                ("cobranza.segment.changed", {"account_id": account, "segment": "dpd_61_90"}),
            ],
        ),
        (
            T0 + timedelta(days=40),  # overdue again, I2 and I3
            [
                ("cobranza.invoice.issued", _invoice(f"{account}-I4", account, "2026-02-14", "2026-03-14")),
                ("cobranza.account.aged", _aged(account, "dpd_1_30", "early", 2)),
                ("cobranza.segment.changed", {"account_id": account, "segment": "default"}),
                ("cobranza.promise.made", _promise(f"{account}-P2", account, "1000", "2026-02-20")),
                ("cobranza.payment.applied", _applied(f"{account}-X6", account, "1000", "2026-02-14")),
            ],
        ),
    ]


def run(platform: InMemoryPlatform) -> None:
    per_account = [steps(account, n) for n, account in enumerate(ACCOUNTS)]
    for k in range(len(per_account[0])):
        at = per_account[0][k][0]
        platform.advance_to(at)  # contact steps and promise deadlines due before the step fire first
        # the step's events of every account interleaved, one topic after another per account
        rows = max(len(p[k][1]) for p in per_account)
        for i in range(rows):
            for n, account in enumerate(ACCOUNTS):
                events = per_account[n][k][1]
                if i >= len(events):
                    continue
                event_type, data = events[i]
                envelope = Envelope(
                    id=f"{account}-{k}-{i}",
                    source="/test",
                    type=event_type,
                    time=at,
                    subject=account,
                    data=data,
                    tenantid="t1",
                )
                platform.publish(envelope, model_for(event_type).topic)
        platform.run_until_quiet()
    platform.advance_to(T0 + timedelta(days=80))


def decisions_by_account(ctx: ServiceContext) -> dict[str, list[str]]:
    """Each account's decisions in the order taken (the decision id numbers them), without the id."""
    table = ctx.spec.metadata.tables["strategy.decisions"]
    columns = [c for c in table.columns if c.name != "decision_id"]
    out: dict[str, list[str]] = defaultdict(list)
    with ctx.sessions() as session:
        for r in session.execute(select(*columns).order_by(table.c.decision_id)):
            out[r.account_id].append(json.dumps(list(r), default=str))
    return dict(out)


def emitted_by_account(platform: InMemoryPlatform) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for published in platform.broker.log:
        body = json.loads(published.record.value or b"")
        if body["source"] == "/cobranza/strategy":
            body.pop("traceparent", None)
            out[body["subject"]].append(json.dumps(body, sort_keys=True))
    return dict(out)


def test_an_accounts_events_of_several_topics_in_one_call_give_what_one_at_a_time_gives(build: Any) -> None:
    runs = []
    for batch_size in (None, 1):
        platform = build(batch_size)
        run(platform)
        if batch_size is None:
            assert max(r.processed for r in platform.results) >= 3 * len(ACCOUNTS), "several topics a call"
        ctx = platform.context("strategy")
        rows = table_rows(ctx, include=lambda table: table.name != "decisions")
        runs.append((emitted_by_account(platform), decisions_by_account(ctx), rows))
    (emitted, decided, rows), (emitted_1, decided_1, rows_1) = runs
    for account in ACCOUNTS:
        kinds = Counter(json.loads(d)[3] for d in decided[account])
        kinds_1 = Counter(json.loads(d)[3] for d in decided_1[account])
        assert kinds == kinds_1, account
    for account in ACCOUNTS:
        assert decided[account] == decided_1[account], account
        assert emitted.get(account) == emitted_1.get(account), account
    assert rows == rows_1
    kinds = Counter(json.loads(d)[3] for d in decided["A1"])
    assert kinds["cancelled"] > 0 and kinds["escalated"] > 0 and kinds["scheduled"] > 0
