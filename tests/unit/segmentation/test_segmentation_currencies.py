"""One segment per account across currencies, whatever order the topics are replayed in.

``segment.changed`` is per account (no currency), while aging, reconciliation and ingest speak per
(account, currency). Segmentation keeps the facts per currency and lets the worst delinquency
decide: the same set of facts gives the same segment and the same last announcement in any order.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from support.batches import Build, one_service_platforms

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.events.registry import model_for
from libs.runtime.transport.memory import InMemoryPlatform
from services.segmentation.adapters.orm import accounts
from services.segmentation.domain.profiles import deciding_currency, money

T0 = datetime(2026, 1, 20, 15, tzinfo=UTC)


@pytest.fixture
def build(service_database) -> Iterator[Build]:  # type: ignore[no-untyped-def]
    with one_service_platforms(service_database, "segmentation", T0) as make:
        yield make


def _invoice(invoice_id: str, currency: str, amount: str) -> dict[str, Any]:
    return {
        "invoice_id": invoice_id,
        "account_id": "A1",
        "customer": {
            "customer_id": "C1",
            "name": "Ana",
            "kind": "person",
            "country": "CO",
            "timezone": "America/Bogota",
        },
        "amount": amount,
        "currency": currency,
        "issued_on": "2025-12-01",
        "due_on": "2025-12-15",
        "product_line": "autos",
    }


def _aged(currency: str, bucket: str, dpd: int, overdue: str) -> dict[str, Any]:
    return {
        "account_id": "A1",
        "bucket": bucket,
        "days_past_due": dpd,
        "overdue_amount": overdue,
        "currency": currency,
    }


FACTS: dict[str, tuple[str, dict[str, Any]]] = {
    "inv_cop": ("cobranza.invoice.issued", _invoice("I-COP", "COP", "300000.00")),
    "inv_usd": ("cobranza.invoice.issued", _invoice("I-USD", "USD", "100.00")),
    "paid_usd": (
        "cobranza.payment.applied",
        {
            "payment_id": "P-USD",
            "account_id": "A1",
            "currency": "USD",
            "amount_applied": "100",
            "allocations": [{"invoice_id": "I-USD", "amount": "100", "invoice_open_amount_after": "0"}],
            "credit_created": "0",
            "credit_balance_after": "0",
            "rule": "reference",
            "applied_on": "2026-01-10",
        },
    ),
    "aged_cop": ("cobranza.account.aged", _aged("COP", "dpd_1_30", 10, "300000")),
    "aged_usd": ("cobranza.account.aged", _aged("USD", "current", 0, "0")),
}


def _deliver(platform: InMemoryPlatform, phases: list[list[str]]) -> None:
    """Each phase is published, then consumed to quiet, before the next (a topic replayed as a whole)."""
    for phase, names in enumerate(phases):
        for n, name in enumerate(names):
            event_type, data = FACTS[name]
            envelope = Envelope(
                id=f"{name}-{phase}-{n}",
                source="/test",
                type=event_type,
                time=T0,
                subject="A1",
                data=data,
                tenantid="t1",
            )
            platform.publish(envelope, model_for(event_type).topic)
        platform.run_until_quiet()


def _announced(platform: InMemoryPlatform) -> list[dict[str, Any]]:
    return [
        json.loads(p.record.value or b"")["data"]
        for p in platform.broker.log
        if p.record.topic == Topics.SEGMENTS
    ]


def _row(platform: InMemoryPlatform) -> Any:
    with platform.context("segmentation").sessions() as session:
        return session.execute(select(accounts).where(accounts.c.account_id == "A1")).one()


ORDERS = {
    # the invoices topic, then reconciliation's, then aging's: COP aged before USD
    "cop_first": [["inv_cop", "inv_usd"], ["paid_usd"], ["aged_cop", "aged_usd"]],
    # the same topics with each topic's records in the other currency order
    "usd_first": [["inv_usd", "inv_cop"], ["paid_usd"], ["aged_usd", "aged_cop"]],
}


def test_the_same_facts_in_two_orders_give_the_same_segment_and_announcements(build: Build) -> None:
    outcomes = {}
    for name, phases in ORDERS.items():
        for batch_size in (None, 1):
            platform = build(batch_size)
            _deliver(platform, phases)
            outcomes[(name, batch_size)] = (_announced(platform), _row(platform))
    reference_events, reference_row = outcomes[("cop_first", None)]
    assert reference_row.segment == "early_low_value"  # the overdue COP invoice decides
    assert (reference_row.currency, reference_row.days_past_due) == ("COP", 10)
    assert reference_row.total_balance == Decimal("300000.0000")
    for key, (events, row) in outcomes.items():
        assert (row.segment, row.currency, row.bucket, row.total_balance, row.overdue_balance) == (
            reference_row.segment,
            reference_row.currency,
            reference_row.bucket,
            reference_row.total_balance,
            reference_row.overdue_balance,
        ), key
        assert row.currencies == reference_row.currencies, key
        moves = Counter((e.get("previous_segment"), e["segment"]) for e in events)
        assert moves == Counter((e.get("previous_segment"), e["segment"]) for e in reference_events), key
        assert events[-1] == reference_events[-1], key  # the last word, reasons and all


def test_aging_replayed_before_the_invoices_settles_on_the_same_segment(build: Build) -> None:
    platform = build(None)
    _deliver(platform, [["aged_usd", "aged_cop"], ["paid_usd"], ["inv_usd", "inv_cop"]])
    row = _row(platform)
    assert (row.segment, row.currency, row.days_past_due) == ("early_low_value", "COP", 10)
    assert _announced(platform)[-1]["segment"] == "early_low_value"


def test_the_worst_delinquency_decides_then_open_invoices_then_the_currency_code() -> None:
    today = date(2026, 1, 20)

    def state(dpd: int, aged_on: date | None = None) -> dict[str, Any]:
        return {
            "bucket": "current" if dpd == 0 else "dpd_1_30",
            "stage": None,
            "days_past_due": dpd,
            "aged_on": aged_on,
            "overdue_balance": money(0),
            "credit_balance": money(0),
        }

    # 10 dpd aged today against 5 dpd aged ten days ago (15 dpd today): the older delinquency wins
    assert (
        deciding_currency({"COP": state(10, today), "USD": state(5, date(2026, 1, 10))}, {}, today) == "USD"
    )
    # both current: the currency with more open invoices, then the code
    assert deciding_currency({"COP": state(0), "USD": state(0)}, {"USD": 2, "COP": 1}, today) == "USD"
    assert deciding_currency({"USD": state(0), "COP": state(0)}, {"USD": 1, "COP": 1}, today) == "COP"
