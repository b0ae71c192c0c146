"""Benchmark: segmentation's consumer, straight through ``EventProcessor.process`` on a real PostgreSQL.

    .venv/bin/python bench/segmentation_consumer.py [--sizes 1000 10000 100000] [--batch 500]

Feeds N synthetic contract events (ten per account, the accounts interleaved as a stream carries
them: a customer, an invoice, aged overdue, a payment received and its application, a promise
kept, a second invoice, an adjustment, a broken promise, aged current again) in poll batches of
``--batch`` records, on a fresh database per size, and reports events/s and the Python process's
CPU µs per event, against the no-op runtime (the same records, the same inbox and transaction,
handlers that do nothing) in the same run. PostgreSQL's own CPU is not in the CPU column (another
process). Scores with the rule-based fallback (a new tenant has no model). Uses DATABASE_URL if
set, else an embedded PostgreSQL in a temporary directory.

To measure the handlers of another checkout: ``PYTHONPATH=/tmp/old-segmentation`` (the script
only imports the service through ``services.segmentation.service``).
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
from services.segmentation.service import SPEC

START = datetime(2026, 3, 2, 14, tzinfo=UTC)
PER_ACCOUNT = 10


def _scenario(n: int) -> list[tuple[str, str, dict[str, Any]]]:
    """One account's events as (type, record key, data), in the order a stream would carry them."""
    account, customer_id = f"ACC-{n:07d}", f"CUS-{n:07d}"
    customer = {
        "customer_id": customer_id,
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
            "product_line": "auto" if n % 2 else "vida",
        }

    def promise(pid: str) -> dict[str, Any]:
        return {
            "promise_id": pid,
            "account_id": account,
            "promised_amount": "60000",
            "paid_amount": "60000",
            "currency": "COP",
            "due_on": "2026-03-01",
        }

    aged = {"account_id": account, "currency": "COP"}
    return [
        ("cobranza.customer.upserted", customer_id, {**customer, "account_ids": [account]}),
        ("cobranza.invoice.issued", account, invoice(2)),
        (
            "cobranza.account.aged",
            account,
            {**aged, "bucket": "dpd_1_30", "stage": "early", "days_past_due": 5, "overdue_amount": "120000"},
        ),
        (
            "cobranza.payment.received",
            account,
            {
                "payment_id": f"PAY-{n}-1",
                "account_id": account,
                "amount": "60000",
                "currency": "COP",
                "received_on": "2026-03-01",
                "method": "pse",
            },
        ),
        (
            "cobranza.payment.applied",
            account,
            {
                "payment_id": f"PAY-{n}-1",
                "account_id": account,
                "currency": "COP",
                "amount_applied": "60000",
                "allocations": [
                    {"invoice_id": f"INV-{n}-2", "amount": "60000", "invoice_open_amount_after": "60000"}
                ],
                "credit_created": "0",
                "credit_balance_after": "0",
                "rule": "reference",
                "applied_on": "2026-03-01",
            },
        ),
        ("cobranza.promise.kept", account, promise(f"P-{n}-1")),
        ("cobranza.invoice.issued", account, invoice(3)),
        (
            "cobranza.invoice.adjusted",
            account,
            {
                "adjustment_id": f"ADJ-{n}",
                "invoice_id": f"INV-{n}-3",
                "account_id": account,
                "new_amount": "100000",
                "currency": "COP",
                "reason": "discount",
                "effective_on": "2026-03-02",
            },
        ),
        ("cobranza.promise.broken", account, {**promise(f"P-{n}-2"), "paid_amount": "0"}),
        (
            "cobranza.account.aged",
            account,
            {**aged, "bucket": "current", "stage": "current", "days_past_due": 0, "overdue_amount": "0"},
        ),
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
    """segmentation's schema and subscriptions with handlers that do nothing (the runtime's own cost)."""
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
    name = f"cb_seg_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
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
    print(f"segmentation consumer, poll batches of {batch_size}, {os.cpu_count()} CPUs")
    print(
        f"{'events':>8} {'segment. ev/s':>14} {'CPU µs/ev':>10} {'no-op ev/s':>11} {'CPU µs/ev':>10} {'ratio':>6}",
        flush=True,
    )
    for size in sizes:
        batch = records(size)
        noop_rate, noop_cpu = measure(server, noop_spec(), batch, batch_size)
        rate, cpu = measure(server, SPEC, batch, batch_size)
        print(
            f"{size:>8,} {rate:>14,.0f} {cpu:>10,.0f} {noop_rate:>11,.0f} {noop_cpu:>10,.0f} {rate / noop_rate:>6.2f}",
            flush=True,
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
