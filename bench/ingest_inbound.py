"""Benchmark: ingest's Kafka inbound consumer straight through ``EventProcessor.process`` on a real
PostgreSQL, against the no-op runtime (same records, inbox and transaction, a handler that does
nothing) and against COPY of the same rows, in the same run.

    .venv/bin/python bench/ingest_inbound.py [--sizes 1000 10000 100000] [--batch 500]

N contract events on ``cobranza.inbound`` as a core system publishes them, six per account
interleaved account by account: a customer, two invoices, two payments and an adjustment.
Reports events/s and this process's CPU µs per event (PostgreSQL's CPU is another process).
``PYTHONPATH=<old checkout>`` measures another checkout's code with this harness.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest_common import START, copy_rate, ingest_context, postgres, timed
from sqlalchemy import MetaData

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.platform.registry import load_spec
from libs.runtime.processor import EventProcessor
from libs.runtime.service import ServiceSpec
from libs.runtime.transport.base import Record

PER_ACCOUNT = 6


def _scenario(n: int) -> list[tuple[str, dict[str, Any]]]:
    account, customer_id = f"ACC-{n:07d}", f"CUS-{n:07d}"
    customer = {
        "customer_id": customer_id,
        "name": f"Cliente {n}",
        "kind": "person",
        "country": "CO",
        "timezone": "America/Bogota",
        "document_id": f"{10_000_000 + n}",
        "phone": f"+5731{n % 10}{n:07d}",
    }
    invoice = {
        "account_id": account,
        "customer": {k: v for k, v in customer.items() if k != "document_id"},
        "amount": "120000.00",
        "currency": "COP",
        "issued_on": "2026-02-01",
        "due_on": "2026-02-25",
        "product_line": "auto",
    }
    paid = {
        "account_id": account,
        "amount": "60000",
        "currency": "COP",
        "received_on": "2026-03-02",
        "method": "pse",
    }
    return [
        ("cobranza.customer.upserted", {**customer, "account_ids": [account]}),
        ("cobranza.invoice.issued", {**invoice, "invoice_id": f"INV-{n}-1"}),
        ("cobranza.invoice.issued", {**invoice, "invoice_id": f"INV-{n}-2", "due_on": "2026-03-25"}),
        ("cobranza.payment.received", {**paid, "payment_id": f"PAY-{n}-1"}),
        ("cobranza.payment.received", {**paid, "payment_id": f"PAY-{n}-2"}),
        (
            "cobranza.invoice.adjusted",
            {
                "adjustment_id": f"ADJ-{n}",
                "invoice_id": f"INV-{n}-2",
                "account_id": account,
                "new_amount": "100000",
                "currency": "COP",
                "reason": "endoso",
                "effective_on": "2026-03-01",
            },
        ),
    ]


def records(total: int) -> list[Record]:
    accounts = max(1, total // PER_ACCOUNT)
    scenarios = [_scenario(n) for n in range(accounts)]
    out: list[Record] = []
    for step in range(PER_ACCOUNT):
        for n, scenario in enumerate(scenarios):
            event_type, data = scenario[step]
            key = f"ACC-{n:07d}"
            envelope = Envelope(
                id=f"ev-{n}-{step}",
                source="/sources/core",
                type=event_type,
                time=START + timedelta(seconds=step),
                subject=key,
                data=data,
                tenantid="default",
            )
            out.append(Record(Topics.INBOUND, 0, len(out), key.encode(), envelope.to_json_bytes()))
    return out[:total]


def noop_spec() -> ServiceSpec:
    """ingest's schema and subscription with a handler that does nothing (the runtime's own cost)."""
    real = load_spec("ingest")
    metadata = MetaData(schema=real.name)
    for table in real.metadata.sorted_tables:
        if table.name not in {"inbox", "outbox", "timers"}:
            table.to_metadata(metadata)
    fields: dict[str, Any] = dict(name=real.name, metadata=metadata, migrations_dir=real.migrations_dir)
    try:
        return ServiceSpec(**fields, raw_batch_topics={Topics.INBOUND: lambda events, uow: None})
    except TypeError:  # a checkout from before raw batch topics
        return ServiceSpec(**fields, raw_topics={Topics.INBOUND: lambda event, uow: None})


def measure(
    server: str, spec: ServiceSpec | None, batch: list[Record], size: int
) -> tuple[float, float, float]:
    """(events/s, CPU µs/event, COPY rows/s) on a fresh database."""
    with ingest_context(server, spec) as ctx:
        processor = EventProcessor(ctx)

        def run() -> Iterator[None]:
            for i in range(0, len(batch), size):
                result = processor.process(batch[i : i + size])
                if result.dead_lettered:
                    raise SystemExit(f"dead-lettered: {result.reasons[:3]}")
                yield None

        wall, cpu = timed(run())
        copy = copy_rate(
            ctx, [(r.key.decode() if r.key else "", r.value.decode() if r.value else "") for r in batch], size
        )
    return len(batch) / wall, cpu / len(batch) * 1e6, copy


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    print(f"ingest inbound consumer, poll batches of {args.batch}, {os.cpu_count()} CPUs")
    print(
        f"{'events':>8} {'ingest ev/s':>12} {'CPU µs/ev':>10} {'no-op ev/s':>11} {'CPU µs/ev':>10}"
        f" {'COPY rows/s':>12} {'vs no-op':>9} {'vs COPY':>8}"
    )
    with postgres() as server:
        for size in args.sizes:
            batch = records(size)
            noop_rate, noop_cpu, _ = measure(server, noop_spec(), batch, args.batch)
            rate, cpu, copy = measure(server, None, batch, args.batch)
            print(
                f"{size:>8,} {rate:>12,.0f} {cpu:>10,.0f} {noop_rate:>11,.0f} {noop_cpu:>10,.0f}"
                f" {copy:>12,.0f} {rate / noop_rate:>9.2f} {rate / copy:>8.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
