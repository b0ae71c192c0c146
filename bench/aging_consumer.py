"""Benchmark: aging's consumer, straight through ``EventProcessor.process`` on a real PostgreSQL.

    .venv/bin/python bench/aging_consumer.py [--sizes 1000 10000 100000] [--batch 500]

Feeds N synthetic contract events (eight per account, the accounts interleaved as the invoices
and allocations topics carry them: two invoices issued, one already overdue and, for one account
in four, a policy with grace; a partial payment; an adjustment; the rest paid; that payment
reversed; the second invoice cancelled; the first paid again) in poll batches of ``--batch``
records, on a fresh database per size, and reports events/s and the Python process's CPU µs per
event, against the no-op runtime (the same records, the same inbox and transaction, handlers that
do nothing) in the same run. PostgreSQL's own CPU is not in the CPU column (another process).
To measure another checkout's handlers, run this file with ``PYTHONPATH=<checkout>``.
Uses DATABASE_URL if set, else an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, func, select

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

START = datetime(2026, 3, 2, 14, tzinfo=UTC)
Scenario = list[tuple[str, str, dict[str, Any]]]


def _scenario(n: int) -> Scenario:
    """One account's events as (type, record key, data), in the order its topics would carry them."""
    account = f"ACC-{n:07d}"
    customer = {
        "customer_id": f"CUS-{n:07d}",
        "name": f"Cliente {n}",
        "kind": "person",
        "country": "CO",
        "timezone": "America/Bogota",
    }
    first, second = f"INV-{n}-1", f"INV-{n}-2"

    def issued(invoice_id: str, due_on: date) -> dict[str, Any]:
        policy = {"product_line": "vida", "policy_number": f"POL-{n}"} if n % 4 == 0 else {}
        return {
            "invoice_id": invoice_id,
            "account_id": account,
            "customer": customer,
            "amount": "120000.00",
            "currency": "COP",
            "issued_on": "2026-02-01",
            "due_on": due_on.isoformat(),
            "product_line": "auto",
            **policy,
        }

    def money(
        kind: str, pid: str, amount: str, open_after: str, settled: str
    ) -> tuple[str, str, dict[str, Any]]:
        line = {
            "invoice_id": first,
            "amount": amount,
            "invoice_open_amount_after": open_after,
            "invoice_settled_after": settled,
        }
        base = {"payment_id": pid, "account_id": account, "currency": "COP", "credit_balance_after": "0"}
        if kind == "applied":
            data = {
                **base,
                "amount_applied": amount,
                "allocations": [line],
                "rule": "reference",
                "applied_on": "2026-03-02",
            }
            return "cobranza.payment.applied", account, data
        data = {**base, "reopened": [line], "reversed_on": "2026-03-02", "reason": "insufficient_funds"}
        return "cobranza.payment.reversal_applied", account, data

    return [
        ("cobranza.invoice.issued", account, issued(first, date(2026, 2, 25))),
        ("cobranza.invoice.issued", account, issued(second, date(2026, 3, 25))),
        money("applied", f"PAY-{n}-1", "60000", "60000", "60000"),
        (
            "cobranza.invoice.adjusted",
            account,
            {
                "adjustment_id": f"ADJ-{n}",
                "invoice_id": second,
                "account_id": account,
                "new_amount": "100000.00",
                "currency": "COP",
                "reason": "endorsement",
                "effective_on": "2026-03-02",
            },
        ),
        money("applied", f"PAY-{n}-2", "60000", "0", "120000"),
        money("reversal", f"PAY-{n}-2", "60000", "60000", "60000"),
        (
            "cobranza.invoice.cancelled",
            account,
            {
                "invoice_id": second,
                "account_id": account,
                "reason": "written_off",
                "cancelled_on": "2026-03-02",
            },
        ),
        money("applied", f"PAY-{n}-3", "60000", "0", "120000"),
    ]


def records(total: int, scenario: Callable[[int], Scenario] = _scenario) -> list[Record]:
    """``total`` records: the accounts' scenarios interleaved step by step (many accounts per batch)."""
    per_account = len(scenario(0))
    scenarios = [scenario(n) for n in range(max(1, total // per_account))]
    out: list[Record] = []
    for step in range(per_account):
        for n, events in enumerate(scenarios):
            event_type, key, data = events[step]
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


def noop_spec(spec: ServiceSpec) -> ServiceSpec:
    """The service's schema and subscriptions with handlers that do nothing (the runtime's own cost)."""
    types = [*spec.handlers, *spec.batch_handlers]
    metadata = MetaData(schema=spec.name)
    for table in spec.metadata.sorted_tables:
        if table.name not in {"inbox", "outbox", "timers"}:
            table.to_metadata(metadata)
    return ServiceSpec(
        name=spec.name,
        metadata=metadata,
        migrations_dir=spec.migrations_dir,
        batch_handlers=dict.fromkeys(types, _noop),
    )


def measure(
    server: str, migrate: ServiceSpec, spec: ServiceSpec, batch: list[Record], batch_size: int
) -> tuple[float, float, int]:
    """(events/s, CPU µs/event of this process, events emitted) feeding ``batch`` through a fresh database."""
    name = f"cobranza_bench_{spec.name}_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    url = fresh_database(server, [migrate], name)
    ctx = ServiceContext.create(spec, url, clock=SimulatedClock(START + timedelta(minutes=1)))
    try:
        processor = EventProcessor(ctx)
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(batch), batch_size):
            result = processor.process(batch[i : i + batch_size])
            if result.dead_lettered:
                raise SystemExit(f"dead-lettered: {result.reasons[:3]}")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        with ctx.sessions() as session:
            emitted = session.execute(select(func.count()).select_from(spec.tables.outbox)).scalar_one()
    finally:
        ctx.dispose()
        drop_database(server, name)
    return len(batch) / wall, cpu / len(batch) * 1e6, emitted


def report(
    server: str,
    spec: ServiceSpec,
    batches: Callable[[int], list[Record]],
    sizes: Sequence[int],
    batch_size: int,
) -> None:
    print(f"{spec.name} consumer, poll batches of {batch_size}, {os.cpu_count()} CPUs")
    print(
        f"{'events':>8} {'ev/s':>9} {'CPU µs/ev':>10} {'emitted':>8} {'no-op ev/s':>11} {'CPU µs/ev':>10} {'ratio':>6}"
    )
    for size in sizes:
        batch = batches(size)
        noop_rate, noop_cpu, _ = measure(server, spec, noop_spec(spec), batch, batch_size)
        rate, cpu, emitted = measure(server, spec, spec, batch, batch_size)
        print(
            f"{size:>8,} {rate:>9,.0f} {cpu:>10,.0f} {emitted:>8,} {noop_rate:>11,.0f} {noop_cpu:>10,.0f} "
            f"{rate / noop_rate:>6.2f}"
        )


def main(spec_name: str = "aging", batches: Callable[[int], list[Record]] = records) -> None:
    from libs.platform.registry import load_spec

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    spec = load_spec(spec_name)
    url = os.environ.get("DATABASE_URL")
    if url:
        report(url, spec, batches, args.sizes, args.batch)
        return
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="cobranza-bench-")) / "pgdata", ephemeral=True)
    server = pg.start()
    try:
        report(server, spec, batches, args.sizes, args.batch)
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
