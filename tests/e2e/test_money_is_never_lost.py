"""Whole-pipeline property: on random portfolios, no payment is lost and every service agrees to the cent.

Hypothesis draws portfolios the way core systems and banks really send them: two core
systems reusing invoice and CloudEvents ids, two tenants reusing everything, partial,
exact, over- and unidentified payments, payments that arrive before their invoice,
redelivered and re-sent payments, reversals, and method labels nobody listed. They go
through ingest's inbound topic into ingest, reconciliation, aging and reporting on the
in-memory transport. Afterwards, for every (tenant, account, currency):

* reconciliation's open balance = aging's = reporting's = invoices - cash applied;
* every payment that was not reversed is applied, credit or in suspense: none lost;
* nothing was dead-lettered.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.platform.databases import fresh_database
from libs.platform.registry import load_spec
from libs.runtime.clock import SimulatedClock
from libs.runtime.context import ServiceContext
from libs.runtime.db import drop_database
from libs.runtime.ids import SequentialIdFactory
from libs.runtime.transport.memory import InMemoryPlatform, MemoryBroker

SERVICES = ["ingest", "reconciliation", "aging", "reporting"]
START = datetime(2026, 3, 2, 14, tzinfo=UTC)
TENANTS = ("default", "aseguradora-b")
SOURCES = ("core-vida", "core-autos")
LABELS = ("transferencia", "PSE", "nequi", "Zelle", "cash", "tarjeta débito", "giro postal", "bank_transfer")
CENT = Decimal("0.01")

Key = tuple[str, str, str]  # tenant, account, currency


@dataclass(frozen=True)
class InvoiceSpec:
    source: int
    number: int
    account: int
    currency: str
    cents: int
    day: int


@dataclass(frozen=True)
class PaymentSpec:
    target: str  # "account" | "reference" | "unknown"
    invoice: int  # index into the invoices (for account and reference)
    cents: int
    day: int
    label: str
    resend: bool
    redeliver: bool
    reverse: bool


@dataclass
class Portfolio:
    invoices: list[InvoiceSpec]
    payments: list[PaymentSpec]
    currencies: dict[int, str] = field(default_factory=dict)


@st.composite
def portfolios(draw: st.DrawFn) -> Portfolio:
    accounts = draw(st.integers(1, 3))
    invoices = draw(
        st.lists(
            st.builds(
                InvoiceSpec,
                source=st.integers(0, 1),
                number=st.integers(1, 3),  # small numbers: both core systems reuse INV-1, INV-2…
                account=st.integers(0, accounts - 1),
                currency=st.sampled_from(["COP", "USD"]),
                cents=st.integers(1_00, 900_000_00),
                day=st.integers(0, 20),
            ),
            min_size=1,
            max_size=6,
            unique_by=lambda i: (i.source, i.number),
        )
    )
    payments = draw(
        st.lists(
            st.builds(
                PaymentSpec,
                target=st.sampled_from(["account", "account", "reference", "unknown"]),
                invoice=st.integers(0, len(invoices) - 1),
                cents=st.one_of(
                    st.integers(1, 1_000_000_00),
                    st.sampled_from([inv.cents for inv in invoices]),  # exact amounts
                ),
                day=st.integers(0, 30),  # may come before the invoice it pays
                label=st.sampled_from(LABELS),
                resend=st.booleans(),
                redeliver=st.booleans(),
                reverse=st.integers(0, 4).map(lambda n: n == 0),
            ),
            max_size=6,
        )
    )
    return Portfolio(invoices, payments)


def _money(cents: int) -> str:
    return str((Decimal(cents) / 100).quantize(CENT))


def _scale(cents: int, tenant: str) -> int:
    """The second tenant's amounts differ, so a leak between tenants shows in the balances."""
    return cents if tenant == TENANTS[0] else cents * 3


def _envelope(
    tenant: str, source: str, event_id: str, event_type: str, moment: datetime, data: dict[str, Any]
) -> Envelope:
    return Envelope(
        id=event_id,
        source=f"/sources/{source}",
        type=event_type,
        time=moment,
        subject=data.get("account_id"),
        data=data,
        tenantid=tenant,
    )


def inbound_events(portfolio: Portfolio) -> list[Envelope]:
    """Every event core systems and the bank publish, in publication order (time, then position)."""
    timed: list[tuple[datetime, int, Envelope]] = []
    for tenant in TENANTS:
        counters: dict[str, int] = defaultdict(int)

        def next_id(source: str, counters: dict[str, int] = counters) -> str:
            counters[source] += 1  # every source numbers its events from 1: ids collide across sources
            return f"evt-{counters[source]}"

        for inv in portfolio.invoices:
            source = SOURCES[inv.source]
            moment = START + timedelta(days=inv.day)
            account = f"ACC-{inv.account}"
            data = {
                "invoice_id": f"INV-{inv.number}",
                "account_id": account,
                "customer": {
                    "customer_id": f"CUS-{inv.account}",
                    "name": f"Cliente {inv.account}",
                    "kind": "person",
                    "country": "CO",
                    "timezone": "America/Bogota",
                },
                "amount": _money(_scale(inv.cents, tenant)),
                "currency": inv.currency,
                "issued_on": moment.date().isoformat(),
                "due_on": (moment.date() + timedelta(days=15)).isoformat(),
                "product_line": "vida" if inv.source == 0 else "auto",
                "policy_number": f"POL-{inv.source}-{inv.number}",
            }
            env = _envelope(tenant, source, next_id(source), "cobranza.invoice.issued", moment, data)
            timed.append((moment, len(timed), env))

        for n, pay in enumerate(portfolio.payments):
            inv = portfolio.invoices[pay.invoice]
            moment = START + timedelta(days=pay.day, hours=1)
            data: dict[str, Any] = {
                "payment_id": f"PAY-{n}",
                "amount": _money(_scale(pay.cents, tenant)),
                "currency": inv.currency,
                "received_on": moment.date().isoformat(),
                "method": pay.label,
            }
            if pay.target == "account":
                data["account_id"] = f"ACC-{inv.account}"
            elif pay.target == "reference":
                data["reference"] = f"PAGO POLIZA POL-{inv.source}-{inv.number}"
            else:
                data["account_id"] = "ACC-NOBODY-KNOWS"
            env = _envelope(tenant, "bank", next_id("bank"), "cobranza.payment.received", moment, data)
            timed.append((moment, len(timed), env))
            if pay.redeliver:  # the broker delivers the very same event again
                timed.append((moment + timedelta(minutes=5), len(timed), env))
            if pay.resend:  # the bank re-sends the payment as a new event
                again = _envelope(tenant, "bank", next_id("bank"), "cobranza.payment.received", moment, data)
                timed.append((moment + timedelta(minutes=10), len(timed), again))
            if pay.reverse:
                later = moment + timedelta(days=2)
                reversal = {
                    "payment_id": f"PAY-{n}",
                    "reversed_on": later.date().isoformat(),
                    "reason": "cheque devuelto",
                }
                if "account_id" in data:
                    reversal["account_id"] = data["account_id"]
                env = _envelope(tenant, "bank", next_id("bank"), "cobranza.payment.reversed", later, reversal)
                timed.append((later, len(timed), env))
    timed.sort(key=lambda t: (t[0], t[1]))
    return [env for _, _, env in timed]


def expected_payments(portfolio: Portfolio) -> dict[tuple[str, str], Decimal]:
    """Per (tenant, currency): the money received and not reversed, counted once."""
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for tenant in TENANTS:
        for pay in portfolio.payments:
            if not pay.reverse:
                currency = portfolio.invoices[pay.invoice].currency
                totals[(tenant, currency)] += Decimal(_money(_scale(pay.cents, tenant)))
    return totals


def expected_invoiced(portfolio: Portfolio) -> dict[Key, Decimal]:
    totals: dict[Key, Decimal] = defaultdict(Decimal)
    for tenant in TENANTS:
        for inv in portfolio.invoices:
            totals[(tenant, f"ACC-{inv.account}", inv.currency)] += Decimal(_money(_scale(inv.cents, tenant)))
    return totals


def _rows(platform: InMemoryPlatform, service: str, sql: str) -> dict[Key, Decimal]:
    with platform.context(service).sessions() as session:
        rows = session.execute(text(sql)).all()
    return {(r[0], r[1], r[2]): Decimal(r[3]).quantize(CENT) for r in rows}


OPEN_BALANCE_SQL = {
    "reconciliation": """
        SELECT tenant_id, account_id, currency, sum(open_amount) FROM reconciliation.invoices
        WHERE status <> 'cancelled' GROUP BY 1, 2, 3""",
    "aging": """
        SELECT tenant_id, account_id, currency, sum(open_amount) FROM aging.invoices
        WHERE status <> 'cancelled' GROUP BY 1, 2, 3""",
    "reporting": """
        SELECT tenant_id, account_id, currency, sum(open_amount) FROM reporting.invoices
        GROUP BY 1, 2, 3""",
}


def _allocation_events(platform: InMemoryPlatform) -> list[Envelope]:
    return [Envelope.from_json(r.value) for r in platform.broker.read(Topics.ALLOCATIONS, 0) if r.value]


def cash_applied(platform: InMemoryPlatform) -> dict[Key, Decimal]:
    """What reconciliation told the others it applied, net of reversals, per (tenant, account, currency)."""
    applied: dict[Key, Decimal] = defaultdict(Decimal)
    for env in _allocation_events(platform):
        key = (env.tenantid, env.data.get("account_id") or "", env.data["currency"])
        if env.type == "cobranza.payment.applied":
            applied[key] += sum(Decimal(a["amount"]) for a in env.data["allocations"])
        elif env.type == "cobranza.payment.reversal_applied":
            applied[key] -= sum(Decimal(r["amount"]) for r in env.data["reopened"])
    return applied


def held_by_reconciliation(platform: InMemoryPlatform) -> dict[tuple[str, str], Decimal]:
    """Per (tenant, currency): cash applied to invoices + credit balances + suspense."""
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for (tenant, _, currency), amount in cash_applied(platform).items():
        totals[(tenant, currency)] += amount
    sql = {
        "credit": "SELECT tenant_id, account_id, currency, sum(amount) FROM reconciliation.credits GROUP BY 1, 2, 3",
        "suspense": """SELECT tenant_id, '', currency, sum(amount) FROM reconciliation.payments
                       WHERE status = 'suspense' GROUP BY 1, 2, 3""",
    }
    for query in sql.values():
        for (tenant, _, currency), amount in _rows(platform, "reconciliation", query).items():
            totals[(tenant, currency)] += amount
    return totals


def _nonzero(values: dict[Any, Decimal]) -> dict[Any, Decimal]:
    return {k: v.quantize(CENT) for k, v in values.items() if v != 0}


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(portfolio=portfolios())
def test_every_service_agrees_with_reconciliation_and_no_payment_is_lost(
    pg_server: str, portfolio: Portfolio
) -> None:
    name = f"cobranza_money_{uuid.uuid4().hex[:8]}"
    url = fresh_database(pg_server, [load_spec(s) for s in SERVICES], name)
    clock = SimulatedClock(START - timedelta(hours=1))
    ids = SequentialIdFactory("money")
    contexts = [ServiceContext.create(load_spec(s), url, clock=clock, ids=ids, pool_size=1) for s in SERVICES]
    try:
        platform = InMemoryPlatform(contexts, MemoryBroker(clock), clock)
        for env in inbound_events(portfolio):
            platform.advance_to(env.time)
            platform.publish(env, Topics.INBOUND)
        platform.advance_to(START + timedelta(days=40))

        dead = platform.broker.read(Topics.DEAD_LETTER, 0)
        assert not dead, [dict(r.headers or {}).get("dlq_reason") for r in dead]

        invoiced = expected_invoiced(portfolio)
        applied = cash_applied(platform)
        expected_open = _nonzero({k: invoiced[k] - applied.get(k, Decimal(0)) for k in invoiced})
        for service, sql in OPEN_BALANCE_SQL.items():
            assert _nonzero(_rows(platform, service, sql)) == expected_open, f"{service} disagrees"
        assert _nonzero(held_by_reconciliation(platform)) == _nonzero(expected_payments(portfolio))
    finally:
        for ctx in contexts:
            ctx.dispose()
        drop_database(pg_server, name)


def test_the_portfolio_strategy_draws_what_the_property_needs() -> None:
    """Guard against a strategy that silently stopped producing the hard cases."""
    example = Portfolio(
        invoices=[InvoiceSpec(0, 1, 0, "COP", 100_00, 3), InvoiceSpec(1, 1, 0, "COP", 50_00, 0)],
        payments=[PaymentSpec("account", 0, 30_00, 0, "nequi", True, True, False)],
    )
    events = inbound_events(example)
    ids = [(e.tenantid, e.source, e.id) for e in events]
    assert len({(t, i) for t, _, i in ids}) < len(set(ids)), "sources must reuse CloudEvents ids"
    assert (
        events[0].type == "cobranza.invoice.issued"
        and json.loads(events[0].to_json_line())["data"]["invoice_id"] == "INV-1"
    )
    assert sum(e.type == "cobranza.payment.received" for e in events) == 2 * 3  # sent, redelivered, re-sent
