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

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from consumer_harness import (
    Column,
    Measurement,
    Row,
    Scenario,
    business_metadata,
    customer_of,
    feed,
    parse_args,
    postgres,
    print_header,
    print_row,
    records,
    standard_columns,
)
from ingest_common import copy_rate, ingest_context

from libs.events.catalog import Topics
from libs.platform.registry import load_spec
from libs.runtime.processor import EventProcessor
from libs.runtime.service import ServiceSpec
from libs.runtime.transport.base import Record


def _scenario(n: int) -> Scenario:
    account = f"ACC-{n:07d}"
    customer = {
        **customer_of(n),
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
        ("cobranza.customer.upserted", account, {**customer, "account_ids": [account]}),
        ("cobranza.invoice.issued", account, {**invoice, "invoice_id": f"INV-{n}-1"}),
        ("cobranza.invoice.issued", account, {**invoice, "invoice_id": f"INV-{n}-2", "due_on": "2026-03-25"}),
        ("cobranza.payment.received", account, {**paid, "payment_id": f"PAY-{n}-1"}),
        ("cobranza.payment.received", account, {**paid, "payment_id": f"PAY-{n}-2"}),
        (
            "cobranza.invoice.adjusted",
            account,
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


def inbound_records(total: int) -> list[Record]:
    """Every event on ``cobranza.inbound`` keyed by its account, as a core system publishes them."""
    return records(total, _scenario, source="/sources/core", topic=Topics.INBOUND)


def noop_spec() -> ServiceSpec:
    """ingest's schema and subscription with a handler that does nothing (the runtime's own cost)."""
    real = load_spec("ingest")
    fields: dict[str, Any] = dict(
        name=real.name, metadata=business_metadata(real), migrations_dir=real.migrations_dir
    )
    try:
        return ServiceSpec(**fields, raw_batch_topics={Topics.INBOUND: lambda events, uow: None})
    except TypeError:  # a checkout from before raw batch topics
        return ServiceSpec(**fields, raw_topics={Topics.INBOUND: lambda event, uow: None})


def measure(
    server: str, spec: ServiceSpec | None, batch: list[Record], size: int
) -> tuple[Measurement, float]:
    """The consumer's measurement and the COPY rows/s of the same records, on a fresh database."""
    with ingest_context(server, spec) as ctx:
        wall, cpu = feed(EventProcessor(ctx), batch, size)
        copy = copy_rate(
            ctx, [(r.key.decode() if r.key else "", r.value.decode() if r.value else "") for r in batch], size
        )
    return Measurement(len(batch) / wall, cpu / len(batch) * 1e6, 0), copy


COLUMNS = [
    *standard_columns("ingest ev/s")[:-1],
    Column("COPY rows/s", 12, lambda r: r.extra["copy"]),
    Column("vs no-op", 9, lambda r: r.real.rate / r.noop.rate, ".2f"),
    Column("vs COPY", 8, lambda r: r.real.rate / r.extra["copy"], ".2f"),
]


def main() -> None:
    args = parse_args(__doc__)
    print_header("ingest inbound consumer", args.batch, COLUMNS)
    with postgres() as server:
        for size in args.sizes:
            batch = inbound_records(size)
            noop, _ = measure(server, noop_spec(), batch, args.batch)
            real, copy = measure(server, None, batch, args.batch)
            print_row(Row(size, real, noop, {"copy": copy}), COLUMNS)


if __name__ == "__main__":
    main()
