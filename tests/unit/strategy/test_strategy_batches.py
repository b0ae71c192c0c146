"""strategy's batch handler: a whole batch gives what one event at a time gives, in a bounded number of statements.

The cases are the ones where order matters: cash seen before the promises it keeps (which
promise takes it depends on when each was made known), a reversal before its application, a
reversal that reopens a kept promise another payment then keeps, a cure and a relapse on the same
day (the same contact ids planned again), a customer naming two accounts, two tenants sharing ids.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from support.batches import Build, counted_statements, one_service_platforms, table_rows

from libs.events.envelope import Envelope
from libs.events.registry import model_for
from libs.runtime.transport.memory import InMemoryPlatform
from services.strategy.adapters.orm import promises

T0 = datetime(2026, 1, 5, 15, tzinfo=UTC)
END = datetime(2026, 2, 15, tzinfo=UTC)


@pytest.fixture
def build(service_database) -> Iterator[Build]:  # type: ignore[no-untyped-def]
    """A strategy platform with a clock of its own, one batch per poll or ``batch_size`` events."""
    with one_service_platforms(service_database, "strategy", T0) as make:
        yield make


def _customer(customer_id: str, accounts: list[str]) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "account_ids": accounts,
        "name": "Ana",
        "kind": "person",
        "country": "CO",
        "timezone": "America/Bogota",
        "contact_points": [
            {"channel": "email", "value": "ana@example.com", "consent": True},
            {"channel": "sms", "value": "+573001234567", "consent": False},
        ],
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


def _applied(payment_id: str, account: str, amount: str, on: str = "2026-01-05") -> dict[str, Any]:
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


def _reversal(payment_id: str, account: str) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "account_id": account,
        "currency": "COP",
        "reopened": [{"invoice_id": "I1", "amount": "1", "invoice_open_amount_after": "1"}],
        "credit_balance_after": "0",
        "reversed_on": "2026-01-06",
        "reason": "insufficient_funds",
    }


def _aged(account: str, bucket: str, stage: str, dpd: int, currency: str = "COP") -> dict[str, Any]:
    return {
        "account_id": account,
        "bucket": bucket,
        "stage": stage,
        "days_past_due": dpd,
        "overdue_amount": "0" if dpd == 0 else "100",
        "currency": currency,
    }


def _invoice(invoice_id: str, account: str) -> dict[str, Any]:
    customer = {
        k: v for k, v in _customer("C1", []).items() if k in {"customer_id", "name", "kind", "country"}
    }
    return {
        "invoice_id": invoice_id,
        "account_id": account,
        "customer": {**customer, "timezone": "America/Bogota"},
        "amount": "100000.00",
        "currency": "COP",
        "issued_on": "2026-01-05",
        "due_on": "2026-01-25",
        "product_line": "auto",
    }


def scenario(account: str) -> list[list[tuple[str, dict[str, Any]]]]:
    """Phases, each delivered before the next (the in-memory transport delivers topic by topic)."""
    return [
        [("cobranza.payment.applied", _applied(f"{account}-X1", account, "100"))],  # cash before the promises
        [
            # one batch: PZ, made known first, takes X1 first though PA sorts before it
            ("cobranza.promise.made", _promise(f"{account}-PZ", account, "60", "2026-01-15")),
            ("cobranza.promise.made", _promise(f"{account}-PA", account, "60", "2026-01-20")),
        ],
        [
            ("cobranza.payment.reversal_applied", _reversal(f"{account}-X1", account)),  # reopens PZ
            ("cobranza.payment.reversal_applied", _reversal(f"{account}-X2", account)),  # before its cash
            ("cobranza.payment.applied", _applied(f"{account}-X2", account, "500")),  # the tombstone holds
            ("cobranza.payment.applied", _applied(f"{account}-X3", account, "60", "2026-01-06")),  # keeps PA
        ],
        [
            ("cobranza.invoice.issued", _invoice(f"{account}-I1", account)),
            ("cobranza.customer.upserted", _customer(f"C-{account}", [account, f"{account}-B"])),
            ("cobranza.account.aged", _aged(account, "dpd_1_30", "early", 3)),
            ("cobranza.segment.changed", {"account_id": account, "segment": "dpd_61_90"}),
            ("cobranza.account.aged", _aged(account, "dpd_1_30", "early", 3, "USD")),
            ("cobranza.account.aged", _aged(account, "current", "current", 0)),  # cured the same day
            ("cobranza.account.aged", _aged(account, "dpd_1_30", "early", 1)),  # and overdue again
            (
                "cobranza.promise.made",
                _promise(f"{account}-PZ", account, "999", "2026-01-30"),
            ),  # same id again
        ],
    ]


PHASES = 4


def publish(
    platform: InMemoryPlatform, accounts: list[str], phase: int, tenants: tuple[str, ...] = ("t1", "t2")
) -> None:
    for tenant in tenants:
        for account in accounts:
            for n, (event_type, data) in enumerate(scenario(account)[phase]):
                subject = data.get("account_id") or data["customer_id"]
                envelope = Envelope(
                    id=f"{tenant}-{account}-{phase}-{n}",
                    source="/test",
                    type=event_type,
                    time=T0,
                    subject=subject,
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


def test_a_whole_batch_gives_what_one_event_at_a_time_gives(build: Build) -> None:
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

    with platform.context("strategy").sessions() as session:
        rows = session.execute(
            select(promises.c.promise_id, promises.c.status, promises.c.paid_amount).where(
                promises.c.tenant_id == "t1", promises.c.account_id == "A1"
            )
        ).all()
    # X1 went to PZ (made first) and PA; its reversal reopened PZ, X3 kept PA; PZ broke at its due end
    assert sorted(tuple(r) for r in rows) == [
        ("A1-PA", "kept", Decimal("60")),
        ("A1-PZ", "broken", Decimal("0")),
    ]
    types = Counter(json.loads(e)["type"] for e in batched)
    assert types["cobranza.promise.kept"] == 2 * 2 * 2  # PZ by X1, PA by X3; two accounts, two tenants
    assert types["cobranza.promise.broken"] == 2 * 2
    assert types["cobranza.contact.due"] > 0


def test_a_batch_costs_the_same_statements_whatever_its_size(build: Build) -> None:
    """No statement per event: ten times the accounts in one batch, the same number of statements."""
    counts = []
    for accounts in (2, 20):
        platform = build(None)
        with counted_statements(platform.context("strategy").engine) as statements:
            for phase in range(PHASES):
                publish(platform, [f"A{n}" for n in range(accounts)], phase, tenants=("t1",))
                platform.run_until_quiet()
        assert sum(r.processed for r in platform.results) == 15 * accounts
        counts.append(len(statements))
    assert counts[0] == counts[1]
