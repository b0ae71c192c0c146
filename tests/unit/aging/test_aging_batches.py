"""aging's batch handler: a whole batch gives what one event at a time gives, in bounded statements.

The cases are the ones where order inside a batch matters: an account cured and relapsing in one
batch (a payment and its reversal: two bucket changes, each caused by its own event), an invoice
issued and adjusted or cancelled in the same batch, an allocation before its invoice, a poison
event among good ones, two tenants sharing ids. And the issue 7 follow-up: an adjustment that
frees no cash and an earlier allocation give the same open amount in either arrival order.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aging_helpers import invoice
from sqlalchemy import select
from support.batches import Build, counted_statements, one_service_platforms, table_rows

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.events.registry import model_for
from libs.runtime.transport.memory import InMemoryPlatform
from services.aging.adapters.orm import account_state, invoices

T0 = datetime(2026, 1, 5, 15, tzinfo=UTC)


@pytest.fixture
def build(service_database) -> Iterator[Build]:  # type: ignore[no-untyped-def]
    """An aging platform with a clock of its own, one batch per poll or ``batch_size`` events."""
    with one_service_platforms(service_database, "aging", T0) as make:
        yield make


def _allocation(
    kind: str, account: str, payment: str, invoice_id: str, open_after: str, settled: str | None
) -> tuple[str, dict[str, Any]]:
    line: dict[str, Any] = {"invoice_id": invoice_id, "amount": "1", "invoice_open_amount_after": open_after}
    if settled is not None:
        line["invoice_settled_after"] = settled
    base = {"payment_id": payment, "account_id": account, "currency": "COP", "credit_balance_after": "0"}
    if kind == "applied":
        return "cobranza.payment.applied", {
            **base,
            "amount_applied": "1",
            "allocations": [line],
            "rule": "reference",
            "applied_on": "2026-02-01",
        }
    return "cobranza.payment.reversal_applied", {
        **base,
        "reopened": [line],
        "reversed_on": "2026-02-01",
        "reason": "insufficient_funds",
    }


def _adjusted(account: str, invoice_id: str, new_amount: str) -> tuple[str, dict[str, Any]]:
    return "cobranza.invoice.adjusted", {
        "adjustment_id": f"ADJ-{invoice_id}",
        "invoice_id": invoice_id,
        "account_id": account,
        "new_amount": new_amount,
        "currency": "COP",
        "reason": "endorsement",
        "effective_on": "2026-02-01",
    }


def _cancelled(account: str, invoice_id: str) -> tuple[str, dict[str, Any]]:
    return "cobranza.invoice.cancelled", {
        "invoice_id": invoice_id,
        "account_id": account,
        "reason": "written_off",
        "cancelled_on": "2026-02-01",
    }


def _issued(account: str, invoice_id: str, **overrides: Any) -> tuple[str, dict[str, Any]]:
    return "cobranza.invoice.issued", invoice(invoice_id, account, **overrides)


def phases(n: int, poison: bool = True) -> list[tuple[datetime, list[tuple[str, dict[str, Any]]]]]:
    """(when, events) for accounts ``X{n}`` (cured and relapsing), ``Y{n}`` (adjusted), ``Z{n}`` (cancelled)."""
    first: list[tuple[str, dict[str, Any]]] = []
    second: list[tuple[str, dict[str, Any]]] = []
    for k in range(n):
        x, y, z, w = f"X{k}", f"Y{k}", f"Z{k}", f"W{k}"
        first += [
            _allocation("applied", w, f"PW{k}", f"IW{k}", "30", "70"),  # before its invoice
            _issued(x, f"IX{k}", product_line="vida", policy_number=f"POL-{k}", amount="100"),
            _issued(y, f"IY{k}", amount="100"),
            _issued(z, f"IZ{k}", amount="100"),
            _issued(w, f"IW{k}", amount="100"),
        ]
        second += [
            _allocation("applied", x, f"PX{k}", f"IX{k}", "0", "100"),
            _allocation("reversal", x, f"PX{k}", f"IX{k}", "100", "0"),
            _allocation("applied", y, f"PY{k}", f"IY{k}", "70", "30"),
            _adjusted(y, f"IY{k}", "80"),
            _issued(z, f"IZ2-{k}", amount="50", due_on="2026-01-25"),
            _cancelled(z, f"IZ{k}"),
        ]
        if poison:
            second.append(_adjusted(z, "NOPE", "1"))  # dead-lettered alone
    return [(T0, first), (datetime(2026, 2, 1, 15, tzinfo=UTC), second)]


def publish(
    platform: InMemoryPlatform,
    events: list[tuple[str, dict[str, Any]]],
    tenant: str,
    prefix: str = "in",
    at: datetime | None = None,
) -> None:
    for n, (event_type, data) in enumerate(events):
        envelope = Envelope(
            id=f"{prefix}-{n}",
            source="/test",
            type=event_type,
            time=at or platform.clock.now(),
            subject=data["account_id"],
            data=data,
            tenantid=tenant,
        )
        platform.publish(envelope, model_for(event_type).topic)


def run(
    platform: InMemoryPlatform, n: int, tenants: tuple[str, ...] = ("t1", "t2"), poison: bool = True
) -> None:
    for phase, (when, events) in enumerate(phases(n, poison)):
        platform.advance_to(when)
        for tenant in tenants:
            publish(platform, events, tenant, prefix=f"p{phase}")
        platform.run_until_quiet()
    platform.advance_to(datetime(2026, 3, 1, tzinfo=UTC))


def outcome(platform: InMemoryPlatform) -> tuple[dict[tuple[str, str], list[str]], dict[str, Counter[str]]]:
    emitted: dict[tuple[str, str], list[str]] = {}
    for published in platform.broker.log:
        if published.record.topic in {Topics.INVOICES, Topics.ALLOCATIONS}:
            continue
        body = json.loads(published.record.value or b"")
        if published.record.topic == Topics.DEAD_LETTER:
            body = {"dead": body["id"], "tenant": body["tenantid"]}
        body.pop("traceparent", None)
        key = (body.get("tenantid", body.get("tenant", "")), body.get("subject", ""))
        emitted.setdefault(key, []).append(json.dumps(body, sort_keys=True))
    return emitted, table_rows(platform.context("aging"))


def test_a_batch_gives_what_one_event_at_a_time_gives(build: Build) -> None:
    batched, one_by_one = build(None), build(1)
    run(batched, 3)
    run(one_by_one, 3)
    assert len(batched.results) < len(one_by_one.results)
    emitted, state = outcome(batched)
    assert emitted == outcome(one_by_one)[0]
    assert state == outcome(one_by_one)[1]

    x0 = [json.loads(e) for e in emitted[("t1", "X0")]]
    feb1 = [(e["type"], e["data"].get("bucket")) for e in x0 if e["time"].startswith("2026-02-01T15")]
    assert feb1 == [  # cured by the payment, relapsed by its reversal: both in one batch
        ("cobranza.account.aged", "current"),
        ("cobranza.policy.lapse_cancelled", None),
        ("cobranza.account.aged", "dpd_1_30"),
        ("cobranza.policy.lapse_scheduled", None),
    ]
    assert len({e["causationid"] for e in x0 if e["time"].startswith("2026-02-01T15")}) == 2
    dead = [e for (t, s), v in emitted.items() for e in v if '"dead"' in e]
    assert len(dead) == 2 * 3  # the poison adjustment of each account Z, in each tenant

    ctx = batched.context("aging")
    with ctx.sessions() as session:
        rows = session.execute(
            select(invoices.c.invoice_id, invoices.c.amount, invoices.c.open_amount, invoices.c.status).where(
                invoices.c.tenant_id == "t1", invoices.c.invoice_id.in_(["IY0", "IW0", "IZ0", "IZ2-0"])
            )
        ).all()
        assert sorted(tuple(r) for r in rows) == [
            ("IW0", Decimal("100"), Decimal("30"), "open"),
            ("IY0", Decimal("80"), Decimal("50"), "open"),
            ("IZ0", Decimal("100"), Decimal("0"), "cancelled"),
            ("IZ2-0", Decimal("50"), Decimal("50"), "open"),
        ]


@pytest.mark.parametrize("adjust_first", [True, False])
def test_an_adjustment_that_frees_no_cash_and_an_earlier_payment_agree_in_either_order(
    build: Build, adjust_first: bool
) -> None:
    """Pay 30 on 100 (reconciliation: settled 30), adjust to 80 (nothing allocated): 50 owed either way."""
    platform = build(None)
    publish(platform, [_issued("A1", "I1", amount="100")], "t1")
    platform.run_until_quiet()
    platform.advance_to(datetime(2026, 2, 1, 15, tzinfo=UTC))
    steps = [[_adjusted("A1", "I1", "80")], [_allocation("applied", "A1", "P1", "I1", "70", "30")]]
    for n, step in enumerate(steps if adjust_first else reversed(steps)):
        publish(platform, step, "t1", prefix=f"s{n}")
        platform.run_until_quiet()
    with platform.context("aging").sessions() as session:
        assert session.execute(select(invoices.c.open_amount)).scalar_one() == Decimal("50")
        assert session.execute(select(account_state.c.overdue_amount)).scalar_one() == Decimal("50")


def test_an_older_allocation_delivered_late_does_not_overwrite_a_waiting_newer_one(build: Build) -> None:
    """Before its invoice, too: the early amount of the newer allocation stays (batches read it first)."""
    platform = build(None)
    newer, older = T0 + timedelta(minutes=5), T0
    publish(platform, [_allocation("applied", "A1", "P2", "I1", "0", "100")], "t1", prefix="a", at=newer)
    platform.run_until_quiet()
    publish(platform, [_allocation("applied", "A1", "P1", "I1", "70", "30")], "t1", prefix="b", at=older)
    platform.run_until_quiet()
    publish(platform, [_issued("A1", "I1", amount="100")], "t1", prefix="c")
    platform.run_until_quiet()
    with platform.context("aging").sessions() as session:
        row = session.execute(select(invoices.c.settled, invoices.c.open_amount)).one()
    assert tuple(row) == (Decimal("100"), Decimal("0"))


def test_a_batch_costs_the_same_statements_whatever_its_size(build: Build) -> None:
    """No statement per event: ten times the accounts in one batch, the same number of statements."""
    counts = []
    for accounts in (2, 20):
        platform = build(None)
        with counted_statements(platform.context("aging").engine) as statements:
            run(platform, accounts, tenants=("t1",), poison=False)
        counts.append(len(statements))
    assert counts[0] == counts[1]
