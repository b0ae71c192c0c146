"""segmentation's batch handler: a whole batch gives what one event at a time gives, in a bounded number of statements.

The cases are the ones where order matters: an allocation before its invoice (the open amount
waits), several moves of one account inside one batch (each announced, with its own cause), a
payment on time or not depending on the aging just before it, a promise outcome that changes
within a batch, a reversal of a payment seen earlier in the batch, a re-sent invoice id, a fact in
another currency, a customer naming accounts known and unknown, an adjustment of an invoice never
issued (dead-lettered alone, its neighbours kept), two tenants sharing every id.
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

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.events.registry import model_for
from libs.runtime.transport.memory import InMemoryPlatform
from services.segmentation.adapters.orm import accounts, early_open_amounts, invoices, payments

T0 = datetime(2026, 1, 20, 15, tzinfo=UTC)


@pytest.fixture
def build(service_database) -> Iterator[Build]:  # type: ignore[no-untyped-def]
    """A segmentation platform with a clock of its own, one batch per poll or ``batch_size`` events."""
    with one_service_platforms(service_database, "segmentation", T0) as make:
        yield make


def _customer(account: str, timezone: str = "America/Bogota") -> dict[str, Any]:
    return {
        "customer_id": f"C-{account}",
        "name": "Ana",
        "kind": "person",
        "country": "CO",
        "timezone": timezone,
    }


def _invoice(invoice_id: str, account: str, amount: str = "300000.00") -> dict[str, Any]:
    return {
        "invoice_id": invoice_id,
        "account_id": account,
        "customer": _customer(account),
        "amount": amount,
        "currency": "COP",
        "issued_on": "2025-12-01",
        "due_on": "2025-12-15",
        "product_line": "autos",
    }


def _aged(account: str, bucket: str, dpd: int, overdue: str, currency: str = "COP") -> dict[str, Any]:
    return {
        "account_id": account,
        "bucket": bucket,
        "days_past_due": dpd,
        "overdue_amount": overdue,
        "currency": currency,
    }


def _promise(promise_id: str, account: str) -> dict[str, Any]:
    return {
        "promise_id": promise_id,
        "account_id": account,
        "promised_amount": "100000",
        "paid_amount": "0",
        "currency": "COP",
        "due_on": "2026-01-10",
    }


def _applied(payment_id: str, account: str, invoice_id: str, after: str, credit: str = "0") -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "account_id": account,
        "currency": "COP",
        "amount_applied": "1000",
        "allocations": [{"invoice_id": invoice_id, "amount": "1000", "invoice_open_amount_after": after}],
        "credit_created": credit,
        "credit_balance_after": credit,
        "rule": "reference",
        "applied_on": "2026-01-19",
    }


def scenario(account: str) -> list[list[tuple[str, dict[str, Any]]]]:
    """Phases, each delivered before the next (the in-memory transport delivers topic by topic)."""
    return [
        # an allocation before its invoice, an aged fact before the account has an invoice
        [("cobranza.payment.applied", _applied(f"{account}-X1", account, f"{account}-I1", "200000.00"))],
        [("cobranza.account.aged", _aged(account, "dpd_1_30", 5, "300000"))],
        [
            ("cobranza.invoice.issued", _invoice(f"{account}-I1", account)),  # takes the early open amount
            ("cobranza.invoice.issued", _invoice(f"{account}-I2", account, "50000.00")),
            (
                "cobranza.invoice.issued",
                _invoice(f"{account}-I2", account, "99.00"),
            ),  # a re-send changes nothing
            ("cobranza.invoice.adjusted", _adjusted(f"{account}-I1", account, "250000.00")),
            ("cobranza.invoice.cancelled", _cancelled(f"{account}-I2", account)),
        ],
        [
            ("cobranza.account.aged", _aged(account, "dpd_61_90", 70, "250000")),  # moves
            # another currency, current: the worse COP delinquency still decides
            ("cobranza.account.aged", _aged(account, "current", 0, "0", "USD")),
            ("cobranza.account.aged", _aged(account, "current", 0, "0")),  # cured: moves back
            ("cobranza.account.aged", _aged(account, "dpd_31_60", 40, "250000")),  # and late again
        ],
        [
            ("cobranza.promise.broken", _promise(f"{account}-P1", account)),
            ("cobranza.promise.broken", _promise(f"{account}-P2", account)),
            ("cobranza.promise.kept", _promise(f"{account}-P1", account)),  # the same promise, kept after all
        ],
        [
            ("cobranza.payment.received", _received(f"{account}-X2", account)),  # late: 40 dpd
            ("cobranza.payment.reversed", _reversed(f"{account}-X2", account)),
            ("cobranza.payment.reversed", _reversed(f"{account}-X9", account)),  # never seen: nothing
        ],
        [
            ("cobranza.payment.applied", _applied(f"{account}-X3", account, f"{account}-I1", "0", "5000")),
            (
                "cobranza.payment.reversal_applied",
                {
                    "payment_id": f"{account}-X3",
                    "account_id": account,
                    "currency": "COP",
                    "reopened": [
                        {"invoice_id": f"{account}-I1", "amount": "1000", "invoice_open_amount_after": "1000"}
                    ],
                    "credit_balance_after": "0",
                    "reversed_on": "2026-01-20",
                    "reason": "bounced_cheque",
                },
            ),
        ],
        [
            (
                "cobranza.customer.upserted",
                {**_customer(account, "America/Lima"), "account_ids": [account, f"{account}-unknown"]},
            )
        ],
        [
            ("cobranza.invoice.adjusted", _adjusted(f"{account}-NEVER", account, "1.00")),  # dead-lettered
            ("cobranza.invoice.issued", _invoice(f"{account}-I3", account, "70000.00")),
        ],
    ]


def _adjusted(invoice_id: str, account: str, amount: str) -> dict[str, Any]:
    return {
        "adjustment_id": f"ADJ-{invoice_id}",
        "invoice_id": invoice_id,
        "account_id": account,
        "new_amount": amount,
        "currency": "COP",
        "reason": "discount",
        "effective_on": "2026-01-19",
    }


def _cancelled(invoice_id: str, account: str) -> dict[str, Any]:
    return {
        "invoice_id": invoice_id,
        "account_id": account,
        "reason": "duplicate",
        "cancelled_on": "2026-01-19",
    }


def _received(payment_id: str, account: str) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "account_id": account,
        "amount": "1000",
        "currency": "COP",
        "received_on": "2026-01-19",
        "method": "pse",
    }


def _reversed(payment_id: str, account: str) -> dict[str, Any]:
    return {"payment_id": payment_id, "account_id": account, "reversed_on": "2026-01-20", "reason": "bounced"}


PHASES = len(scenario("A"))


def publish(
    platform: InMemoryPlatform, accounts_: list[str], phase: int, tenants: tuple[str, ...] = ("t1", "t2")
) -> None:
    for tenant in tenants:
        for account in accounts_:
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


def outcome(platform: InMemoryPlatform) -> tuple[list[str], dict[str, Counter[str]]]:
    emitted = []
    for published in platform.broker.log:
        if published.record.topic == Topics.SEGMENTS:
            body = json.loads(published.record.value or b"")
            body.pop("traceparent", None)
            emitted.append(json.dumps(body, sort_keys=True))
    return emitted, table_rows(platform.context("segmentation"), sort_keys=True)


def run(platform: InMemoryPlatform, accounts_: list[str], tenants: tuple[str, ...] = ("t1", "t2")) -> None:
    for phase in range(PHASES):
        publish(platform, accounts_, phase, tenants)
        platform.run_until_quiet()


def test_a_whole_batch_gives_what_one_event_at_a_time_gives(build: Build) -> None:
    runs = []
    for batch_size in (None, 1):
        platform = build(batch_size)
        run(platform, ["A1", "A2"])
        if batch_size is None:
            assert max(r.processed for r in platform.results) > 4, "events went in batches"
        assert sum(r.dead_lettered for r in platform.results) == 4  # one per account and tenant
        runs.append(outcome(platform))
    (batched, batched_rows), (single, single_rows) = runs
    assert batched == single
    assert batched_rows == single_rows

    moves = [json.loads(e) for e in batched if json.loads(e)["tenantid"] == "t1"]
    a1 = [(m["data"].get("previous_segment"), m["data"]["segment"]) for m in moves if m["subject"] == "A1"]
    assert len(a1) >= 4, a1  # first segment, then moves inside the aging batch
    assert all(prev != new for prev, new in a1)
    assert len({m["causationid"] for m in moves if m["subject"] == "A1"}) == len(a1), (
        "each move has its cause"
    )

    with platform.context("segmentation").sessions() as session:
        row = session.execute(
            select(accounts).where(accounts.c.tenant_id == "t1", accounts.c.account_id == "A1")
        ).one()
        opened = dict(
            session.execute(
                select(invoices.c.invoice_id, invoices.c.open_amount).where(invoices.c.tenant_id == "t1")
            ).all()
        )
        pays = session.execute(
            select(payments.c.payment_id, payments.c.on_time, payments.c.reversed).where(
                payments.c.tenant_id == "t1", payments.c.account_id == "A1"
            )
        ).all()
        waiting = session.execute(select(early_open_amounts)).all()
    assert waiting == []  # the early open amount was taken by its invoice
    assert opened["A1-I1"] == 1000  # set by the reversal after the adjustment moved it
    assert sorted(tuple(p) for p in pays) == [
        ("A1-X1", True, False),  # before any aging: current
        ("A1-X2", False, True),  # late, reversed in the same batch
        ("A1-X3", False, False),
    ]
    assert (row.kept_promises, row.broken_promises) == (1, 1)
    assert row.timezone == "America/Bogota"  # the upsert said Lima; the later invoice I3 says Bogota
    assert row.total_balance == 1000 + 70000  # I1 reopened, I2 cancelled, I3 issued beside the poison event
    assert row.days_past_due == 40


def test_a_batch_costs_the_same_statements_whatever_its_size(build: Build) -> None:
    """No statement per event: ten times the accounts in one batch, the same number of statements."""
    counts = []
    for n_accounts in (2, 20):
        platform = build(None)
        with counted_statements(platform.context("segmentation").engine) as statements:
            for phase in range(PHASES - 1):  # the last phase holds a poison event, bisected on its own
                publish(platform, [f"A{n}" for n in range(n_accounts)], phase, tenants=("t1",))
                platform.run_until_quiet()
        assert sum(r.processed for r in platform.results) == 20 * n_accounts
        counts.append(len(statements))
    assert counts[0] == counts[1]
