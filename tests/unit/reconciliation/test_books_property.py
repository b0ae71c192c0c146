"""Property on the real handlers and tables: random portfolios in two tenants that reuse every id.

Invoices, payments to known, unknown and no accounts (by reference or not), customer links,
reversals and cancellations go through reconciliation on the in-memory platform. Afterwards,
per (tenant, account, currency): live allocations + credit of the payments placed on the
account = those payments not reversed; suspense = parked payments not reversed; and a consumer
that follows only ``cobranza.allocations`` (the rules in docs/reconciliation.md) holds exactly
reconciliation's open amounts, credit balances and suspense.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.events.registry import model_for
from libs.platform.registry import load_spec
from libs.runtime.context import ServiceContext
from libs.runtime.ids import SequentialIdFactory
from libs.runtime.transport.memory import InMemoryPlatform, MemoryBroker
from services.reconciliation.adapters.orm import allocations, credits, invoices, payments

TENANTS = ["t1", "t2"]
ACCOUNTS = ["A1", "A2", "A3"]
CURRENCIES = ["COP", "USD"]
START = date(2026, 1, 1)
ZERO = Decimal(0)

amounts = st.decimals(min_value=Decimal("1"), max_value=Decimal("500"), places=2)
small = st.integers(min_value=0, max_value=6)
tenants = st.sampled_from(TENANTS)
operations = st.one_of(
    st.tuples(
        st.just("issue"), tenants, small, st.sampled_from(ACCOUNTS), st.sampled_from(CURRENCIES), amounts
    ),
    st.tuples(
        st.just("pay"),
        tenants,
        small,
        st.one_of(st.none(), st.sampled_from(ACCOUNTS)),
        st.sampled_from(CURRENCIES),
        amounts,
        st.one_of(st.none(), small),
    ),
    st.tuples(st.just("reverse"), tenants, small),
    st.tuples(st.just("cancel"), tenants, small),
    st.tuples(st.just("link"), tenants, st.lists(st.sampled_from(ACCOUNTS), min_size=1, max_size=2)),
)


class Driver:
    """Turns generated operations into contract events on their catalog topics."""

    def __init__(self, platform: InMemoryPlatform) -> None:
        self.platform = platform
        self.ids = itertools.count(1)
        self.issued: dict[tuple[str, str], str] = {}
        self.paid: set[tuple[str, str]] = set()
        self.day = 0

    def _send(self, tenant: str, event_type: str, data: dict[str, Any]) -> None:
        self.day += 1
        self.platform.publish(
            Envelope(
                id=f"e{next(self.ids)}",
                source="/cobranza/ingest",
                type=event_type,
                time=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=self.day),
                subject=data.get("account_id") or data.get("customer_id"),
                data=data,
                tenantid=tenant,
            ),
            model_for(event_type).topic,
        )
        self.platform.run_until_quiet()

    def _on(self) -> str:
        return (START + timedelta(days=self.day)).isoformat()

    def issue(self, tenant: str, n: int, account: str, currency: str, amount: Decimal) -> None:
        invoice_id = f"I{n}"
        self.issued.setdefault((tenant, invoice_id), account)
        self._send(
            tenant,
            "cobranza.invoice.issued",
            {
                "invoice_id": invoice_id,
                "account_id": account,
                "customer": {
                    "customer_id": f"C{account}",
                    "name": "Ana",
                    "kind": "person",
                    "country": "CO",
                    "timezone": "America/Bogota",
                },
                "amount": str(amount),
                "currency": currency,
                "issued_on": self._on(),
                "due_on": (START + timedelta(days=self.day + n % 7)).isoformat(),
                "product_line": "auto",
                "policy_number": f"POL-{n:03d}",
            },
        )

    def pay(
        self, tenant: str, n: int, account: str | None, currency: str, amount: Decimal, ref: int | None
    ) -> None:
        data: dict[str, Any] = {
            "payment_id": f"P{n}",
            "amount": str(amount),
            "currency": currency,
            "received_on": self._on(),
            "method": "Giro Raro",
        }
        if account is not None:
            data["account_id"] = account
        if ref is not None:
            data["reference"] = f"PAGO POLIZA POL {ref}" if n % 2 else f"I{ref}"
        self.paid.add((tenant, f"P{n}"))
        self._send(tenant, "cobranza.payment.received", data)

    def reverse(self, tenant: str, n: int) -> None:
        if (tenant, f"P{n}") in self.paid:
            data = {"payment_id": f"P{n}", "reversed_on": self._on(), "reason": "cheque devuelto"}
            self._send(tenant, "cobranza.payment.reversed", data)

    def cancel(self, tenant: str, n: int) -> None:
        account = self.issued.get((tenant, f"I{n}"))
        if account is not None:
            data = {
                "invoice_id": f"I{n}",
                "account_id": account,
                "reason": "issued_in_error",
                "cancelled_on": self._on(),
            }
            self._send(tenant, "cobranza.invoice.cancelled", data)

    def link(self, tenant: str, account_ids: list[str]) -> None:
        data = {
            "customer_id": "C-" + "-".join(account_ids),
            "account_ids": account_ids,
            "name": "Ana",
            "kind": "person",
            "country": "CO",
            "timezone": "America/Bogota",
        }
        self._send(tenant, "cobranza.customer.upserted", data)


def follow_allocations(platform: InMemoryPlatform) -> dict[str, Any]:
    """A downstream consumer's view, built only from the allocations topic and invoice events."""
    open_after: dict[tuple[str, str], Decimal] = {}
    credit: dict[tuple[str, str, str], Decimal] = {}
    unapplied: dict[tuple[str, str], tuple[str, Decimal]] = {}
    settled: set[tuple[str, str]] = set()
    for published in platform.broker.topics.get(Topics.ALLOCATIONS, []):
        envelope = json.loads(published.record.value or b"{}")
        tenant, data, kind = envelope["tenantid"], envelope["data"], envelope["type"]
        payment = (tenant, data["payment_id"])
        if kind == "cobranza.payment.unapplied":
            unapplied[payment] = (data["currency"], Decimal(data["amount"]))
            continue
        settled.add(payment)
        for item in data.get("allocations", []) + data.get("reopened", []):
            open_after[(tenant, item["invoice_id"])] = Decimal(item["invoice_open_amount_after"])
        if data.get("account_id"):
            credit[(tenant, data["account_id"], data["currency"])] = Decimal(data["credit_balance_after"])
    suspense = {p: v for p, v in unapplied.items() if p not in settled}
    return {"open_after": open_after, "credit": credit, "suspense": suspense}


def check(platform: InMemoryPlatform) -> None:
    with platform.context("reconciliation").sessions() as session:
        invoice_rows = session.execute(select(invoices)).all()
        payment_rows = session.execute(select(payments)).all()
        live = session.execute(select(allocations).where(allocations.c.reversed.is_(False))).all()
        lots = session.execute(
            select(
                credits.c.tenant_id, credits.c.account_id, credits.c.currency, func.sum(credits.c.amount)
            ).group_by(credits.c.tenant_id, credits.c.account_id, credits.c.currency)
        ).all()
    by_invoice = {(r.tenant_id, r.invoice_id): r for r in invoice_rows}
    by_payment = {(r.tenant_id, r.payment_id): r for r in payment_rows}

    # conservation per (tenant, account, currency); suspense per (tenant, currency)
    placed: dict[tuple[str, str | None, str], Decimal] = {}
    for p in payment_rows:
        if p.status != "reversed":
            key = (p.tenant_id, p.account_id if p.status == "applied" else None, p.currency)
            placed[key] = placed.get(key, ZERO) + p.amount
            assert p.claimed_account_id in (None, p.account_id) or p.status == "suspense"
    held: dict[tuple[str, str | None, str], Decimal] = {}
    for a in live:
        payment = by_payment[(a.tenant_id, a.payment_id)]
        invoice = by_invoice[(a.tenant_id, a.invoice_id)]
        assert (invoice.account_id, invoice.currency) == (payment.account_id, payment.currency)
        assert a.account_id == payment.account_id
        key = (a.tenant_id, a.account_id, a.currency)
        held[key] = held.get(key, ZERO) + a.amount
    for tenant, account_id, currency, amount in lots:
        key = (tenant, account_id, currency)
        held[key] = held.get(key, ZERO) + amount
    for p in payment_rows:
        if p.status == "suspense":
            key = (p.tenant_id, None, p.currency)
            held[key] = held.get(key, ZERO) + p.amount
    assert {k: v for k, v in held.items() if v} == {k: v for k, v in placed.items() if v}

    for (tenant, invoice_id), invoice in by_invoice.items():
        if invoice.status == "cancelled":
            continue
        cash = sum(
            (a.amount + a.written_off for a in live if (a.tenant_id, a.invoice_id) == (tenant, invoice_id)),
            ZERO,
        )
        assert invoice.amount - invoice.open_amount == cash

    # what a consumer of cobranza.allocations holds is reconciliation's truth
    view = follow_allocations(platform)
    for (tenant, invoice_id), invoice in by_invoice.items():
        if invoice.status != "cancelled":  # a cancelled invoice owes nothing (invoice.cancelled says so)
            assert view["open_after"].get((tenant, invoice_id), invoice.amount) == invoice.open_amount
    db_credit = {(t, a, c): amount for t, a, c, amount in lots if amount}
    assert {k: v for k, v in view["credit"].items() if v} == db_credit
    db_suspense = {
        (p.tenant_id, p.payment_id): (p.currency, p.amount) for p in payment_rows if p.status == "suspense"
    }
    assert view["suspense"] == db_suspense
    assert platform.broker.topics.get(Topics.DEAD_LETTER, []) == []


def _platform(service_database: Any, clock: Any) -> Iterator[InMemoryPlatform]:
    url = service_database(["reconciliation"])
    ctx = ServiceContext.create(
        load_spec("reconciliation"), url, clock=clock, ids=SequentialIdFactory("p"), pool_size=1
    )
    try:
        yield InMemoryPlatform([ctx], MemoryBroker(clock), clock)
    finally:
        ctx.dispose()


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(operations, min_size=1, max_size=25))
def test_books_balance_per_tenant_account_and_currency(service_database, clock, ops) -> None:  # type: ignore[no-untyped-def]
    for platform in _platform(service_database, clock):
        driver = Driver(platform)
        for kind, *args in ops:
            getattr(driver, str(kind))(*args)
        check(platform)
