"""Benchmark: reporting's consumer, straight through ``EventProcessor.process`` on a real PostgreSQL.

    .venv/bin/python bench/reporting_consumer.py [--sizes 1000 10000 100000] [--batch 500]

Feeds N synthetic contract events (twelve per account, the accounts interleaved as a stream
carries them: two invoices, an aged account, two payments received and applied by
reconciliation, an adjustment, a promise made and kept, a contact due and its outcome) in poll
batches of ``--batch`` records, on a fresh database per size, and reports events/s and the Python
process's CPU µs per event, against the no-op runtime (the same records, the same inbox and
transaction, handlers that do nothing) in the same run. PostgreSQL's own CPU is not in the CPU
column (another process). Uses DATABASE_URL if set, else an embedded PostgreSQL in a temporary
directory. Runs the handlers of the checkout on PYTHONPATH (per-event or batch).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData

from libs.events.envelope import Envelope
from libs.events.registry import DecodedEvent, model_for
from libs.platform.databases import fresh_database
from libs.platform.embedded import EmbeddedPostgres
from libs.runtime.clock import SimulatedClock
from libs.runtime.context import ServiceContext
from libs.runtime.db import drop_database
from libs.runtime.processor import EventProcessor
from libs.runtime.service import ServiceSpec
from libs.runtime.transport.base import Record
from libs.runtime.uow import UnitOfWork
from services.reporting.service import SPEC

START = datetime(2026, 3, 2, 14, tzinfo=UTC)
PER_ACCOUNT = 12


def _scenario(n: int) -> list[tuple[str, str, dict[str, Any]]]:
    """One account's events as (type, record key, data), in the order a stream would carry them."""
    account = f"ACC-{n:07d}"
    customer = {
        "customer_id": f"CUS-{n:07d}",
        "name": f"Cliente {n}",
        "kind": "person",
        "country": "CO",
        "timezone": "America/Bogota",
    }

    def invoice(month: int) -> dict[str, Any]:
        return {
            "invoice_id": f"INV-{n}-{month}",
            "account_id": account,
            "customer": customer,
            "amount": "120000.00",
            "currency": "COP",
            "issued_on": date(2026, month, 1).isoformat(),
            "due_on": date(2026, month, 25).isoformat(),
            "product_line": ("auto", "vida", "hogar", "salud")[n % 4],
            "advisor_id": f"ADV-{n % 50}",
            "office_id": f"OF-{n % 7}",
            "agency_id": f"AG-{n % 3}",
        }

    def received(pid: str) -> dict[str, Any]:
        return {
            "payment_id": pid,
            "account_id": account,
            "amount": "60000",
            "currency": "COP",
            "received_on": "2026-03-02",
        }

    def applied(pid: str, settled: str) -> dict[str, Any]:
        return {
            "payment_id": pid,
            "account_id": account,
            "currency": "COP",
            "amount_applied": "60000",
            "allocations": [
                {
                    "invoice_id": f"INV-{n}-3",
                    "amount": "60000",
                    "invoice_open_amount_after": str(120000 - int(settled)),
                    "invoice_settled_after": settled,
                }
            ],
            "credit_created": "0",
            "credit_balance_after": "0",
            "rule": "reference",
            "applied_on": "2026-03-02",
        }

    promise = {"promise_id": f"P-{n}", "account_id": account, "currency": "COP", "due_on": "2026-03-20"}
    contact = {"contact_id": f"K-{n}", "account_id": account, "channel": "sms"}
    return [
        ("cobranza.invoice.issued", account, invoice(3)),
        ("cobranza.invoice.issued", account, invoice(4)),
        (
            "cobranza.account.aged",
            account,
            {
                "account_id": account,
                "bucket": "dpd_1_30",
                "stage": "early",
                "previous_bucket": "current",
                "previous_stage": "current",
                "days_past_due": 5,
                "overdue_amount": "120000",
                "currency": "COP",
            },
        ),
        ("cobranza.payment.received", account, received(f"X-{n}-1")),
        ("cobranza.payment.applied", account, applied(f"X-{n}-1", "60000")),
        ("cobranza.promise.made", account, {**promise, "amount": "60000", "made_via": "call_center"}),
        (
            "cobranza.contact.due",
            account,
            {
                **contact,
                "scheduled_for": START.isoformat(),
                "strategy": "default",
                "step": "reminder",
                "template": "t",
            },
        ),
        (
            "cobranza.contact.outcome",
            account,
            {**contact, "status": "delivered", "occurred_at": START.isoformat()},
        ),
        (
            "cobranza.invoice.adjusted",
            account,
            {
                "adjustment_id": f"ADJ-{n}",
                "invoice_id": f"INV-{n}-4",
                "account_id": account,
                "new_amount": "100000",
                "currency": "COP",
                "reason": "endorsement",
                "effective_on": "2026-03-02",
            },
        ),
        ("cobranza.payment.received", account, received(f"X-{n}-2")),
        ("cobranza.payment.applied", account, applied(f"X-{n}-2", "120000")),
        ("cobranza.promise.kept", account, {**promise, "promised_amount": "60000", "paid_amount": "60000"}),
    ]


def records(total: int) -> list[Record]:
    """``total`` records: the accounts' scenarios interleaved step by step (many accounts per batch)."""
    accounts = max(1, total // PER_ACCOUNT)
    scenarios = [_scenario(n) for n in range(accounts)]
    out: list[Record] = []
    for step in range(PER_ACCOUNT):
        for n, scenario in enumerate(scenarios):
            event_type, key, data = scenario[step]
            envelope = Envelope(
                id=f"ev-{n}-{step}",
                source="/bench/core",
                type=event_type,
                time=START + timedelta(seconds=step),
                subject=key,
                data=data,
                tenantid="default",
            )
            out.append(
                Record(model_for(event_type).topic, 0, len(out), key.encode(), envelope.to_json_bytes())
            )
    return out[:total]


def _noop(events: Sequence[DecodedEvent[Any]], uow: UnitOfWork) -> None:
    return None


def noop_spec() -> ServiceSpec:
    """reporting's schema and subscriptions with handlers that do nothing (the runtime's own cost)."""
    types = [*SPEC.handlers, *SPEC.batch_handlers]
    metadata = MetaData(schema=SPEC.name)
    for table in SPEC.metadata.sorted_tables:
        if table.name not in {"inbox", "outbox", "timers"}:
            table.to_metadata(metadata)
    return ServiceSpec(
        name=SPEC.name,
        metadata=metadata,
        migrations_dir=SPEC.migrations_dir,
        batch_handlers=dict.fromkeys(types, _noop),
    )


def measure(server: str, spec: ServiceSpec, batch: list[Record], batch_size: int) -> tuple[float, float]:
    """(events/s, CPU µs/event of this process) feeding ``batch`` through a fresh database."""
    name = f"cobranza_bench_reporting_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    url = fresh_database(server, [SPEC], name)
    ctx = ServiceContext.create(spec, url, clock=SimulatedClock(START + timedelta(minutes=1)))
    try:
        processor = EventProcessor(ctx)
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(batch), batch_size):
            result = processor.process(batch[i : i + batch_size])
            if result.dead_lettered:
                raise SystemExit(f"dead-lettered: {result.reasons[:3]}")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        ctx.dispose()
        drop_database(server, name)
    return len(batch) / wall, cpu / len(batch) * 1e6


def run(server: str, sizes: Sequence[int], batch_size: int) -> None:
    print(f"reporting consumer, poll batches of {batch_size}, {os.cpu_count()} CPUs")
    print(
        f"{'events':>8} {'reporting ev/s':>15} {'CPU µs/ev':>10} {'no-op ev/s':>11} {'CPU µs/ev':>10} {'ratio':>6}"
    )
    for size in sizes:
        batch = records(size)
        noop_rate, noop_cpu = measure(server, noop_spec(), batch, batch_size)
        rate, cpu = measure(server, SPEC, batch, batch_size)
        print(
            f"{size:>8,} {rate:>15,.0f} {cpu:>10,.0f} {noop_rate:>11,.0f} {noop_cpu:>10,.0f} {rate / noop_rate:>6.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL")
    if url:
        run(url, args.sizes, args.batch)
        return
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="cobranza-bench-")) / "pgdata", ephemeral=True)
    server = pg.start()
    try:
        run(server, args.sizes, args.batch)
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
