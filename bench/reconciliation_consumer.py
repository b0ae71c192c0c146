"""Benchmark: reconciliation's consumer, straight through ``EventProcessor.process`` on a real PostgreSQL.

    .venv/bin/python bench/reconciliation_consumer.py [--sizes 1000 10000 100000] [--batch 500]

Feeds N synthetic contract events (ten per account, the accounts interleaved as a stream carries
them: a customer link, two invoices, six payments of the account matched by reference, exact
amount, oldest first and as credit, one payment without account named by its remittance, and a
bounced payment that reopens its invoice) in poll batches of ``--batch`` records, on a fresh
database per size, and reports events/s, payments/s and the Python process's CPU µs per event,
against the no-op runtime (the same records, the same inbox and transaction, handlers that do
nothing) in the same run. PostgreSQL's own CPU is not in the CPU column (another process).
Uses DATABASE_URL if set, else an embedded PostgreSQL in a temporary directory.
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
from services.reconciliation.service import SPEC

START = datetime(2026, 3, 2, 14, tzinfo=UTC)
PER_ACCOUNT = 10
PAYMENTS_PER_ACCOUNT = 7  # six payment.received and one payment.reversed per account


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

    def invoice(month: int, amount: str) -> dict[str, Any]:
        return {
            "invoice_id": f"INV-{n}-{month}",
            "account_id": account,
            "customer": customer,
            "amount": amount,
            "currency": "COP",
            "issued_on": date(2026, month, 1).isoformat(),
            "due_on": date(2026, month, 25).isoformat(),
            "product_line": "auto",
            "policy_number": f"POL-{n:07d}-{month}",
        }

    def paid(
        pid: str, amount: str, *, account_id: str | None = account, ref: str | None = None
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "payment_id": f"PAY-{n}-{pid}",
            "amount": amount,
            "currency": "COP",
            "received_on": "2026-03-02",
            "method": "pse",
        }
        if account_id is not None:
            data["account_id"] = account_id
        if ref is not None:
            data["reference"] = ref
        return data

    return [
        ("cobranza.customer.upserted", customer_id, {**customer, "account_ids": [account]}),
        ("cobranza.invoice.issued", account, invoice(2, "120000.00")),
        ("cobranza.invoice.issued", account, invoice(3, "90000.00")),
        ("cobranza.payment.received", account, paid("1", "30000", ref=f"INV-{n}-3")),
        ("cobranza.payment.received", account, paid("2", "90000")),
        ("cobranza.payment.received", account, paid("3", "50000")),
        (
            "cobranza.payment.received",
            f"unidentified:PAY-{n}-4",
            paid("4", "20000", account_id=None, ref=f"PAGO POL-{n:07d}-3"),
        ),
        ("cobranza.payment.received", account, paid("5", "40000")),
        ("cobranza.payment.received", account, paid("6", "15000")),
        (
            "cobranza.payment.reversed",
            account,
            {
                "payment_id": f"PAY-{n}-2",
                "account_id": account,
                "reversed_on": "2026-03-02",
                "reason": "insufficient_funds",
            },
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
    """reconciliation's schema and subscriptions with handlers that do nothing (the runtime's own cost)."""
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
    name = f"bench_rec_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
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
    print(f"reconciliation consumer, poll batches of {batch_size}, {os.cpu_count()} CPUs")
    print(
        f"{'events':>8} {'recon ev/s':>11} {'payments/s':>11} {'CPU µs/ev':>10}"
        f" {'no-op ev/s':>11} {'CPU µs/ev':>10} {'ratio':>6}"
    )
    share = PAYMENTS_PER_ACCOUNT / PER_ACCOUNT
    for size in sizes:
        batch = records(size)
        noop_rate, noop_cpu = measure(server, noop_spec(), batch, batch_size)
        rate, cpu = measure(server, SPEC, batch, batch_size)
        print(
            f"{size:>8,} {rate:>11,.0f} {rate * share:>11,.0f} {cpu:>10,.0f}"
            f" {noop_rate:>11,.0f} {noop_cpu:>10,.0f} {rate / noop_rate:>6.2f}",
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
