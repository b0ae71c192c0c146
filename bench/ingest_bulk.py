"""Benchmark: ingest's bulk API (POST /v1/invoices:bulk, /v1/payments:bulk, /v1/customers/bulk)
in process through FastAPI's TestClient, on a real PostgreSQL, against COPY of the same rows.

    .venv/bin/python bench/ingest_bulk.py [--sizes 1000 10000 100000] [--batch 1000] [--kinds invoices payments]

Each size runs on a fresh database: N invoices of N/4 debtors (each with a phone to standardise),
then N payments of those accounts, posted ``--batch`` items per request; items/s and this process's
CPU µs per item are the whole request (HTTP parsing, validation, linking, minting, outbox), and
``COPY rows/s`` is PostgreSQL COPY of the same items (id, JSON) in the same run. The old code is
measured with ``PYTHONPATH=<old checkout> .venv/bin/python bench/ingest_bulk.py``.

``--kinds ... reinvoices`` (after ``invoices``): next month's N invoices of the same debtors, after a
restart (every process cache of ingest's standardisation emptied): what a re-sent debtor costs when
the process has not seen it.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from consumer_harness import postgres
from ingest_common import admin_headers, copy_rate, ingest_context, timed

from libs.runtime.http import create_app

PATHS = {
    "invoices": "/v1/invoices:bulk",
    "payments": "/v1/payments:bulk",
    "customers": "/v1/customers/bulk",
    "reinvoices": "/v1/invoices:bulk",
}


def invoice(i: int, customers: int, rng: random.Random) -> dict[str, Any]:
    c = i % customers
    issued = date(2026, 1, 1) + timedelta(days=rng.randrange(180))
    return {
        "invoice_id": f"INV-{i:08d}",
        "account_id": f"ACC-{c:07d}",
        "customer": {
            "customer_id": f"CUS-{c:07d}",
            "name": f"Cliente {c}",
            "document_id": f"{10_000_000 + c}",
            "email": f"cliente{c}@example.com",
            "phone": f"+57 31{c % 10} {c:07d}",
        },
        "amount": f"{rng.randrange(50_000, 5_000_000)}.{rng.randrange(100):02d}",
        "currency": "COP",
        "issued_on": issued.isoformat(),
        "due_on": (issued + timedelta(days=30)).isoformat(),
        "product_line": rng.choice(("auto", "vida", "hogar", "salud", "soat")),
    }


def payment(i: int, customers: int, rng: random.Random) -> dict[str, Any]:
    c = i % customers
    return {
        "payment_id": f"PAY-{i:08d}",
        "account_id": f"ACC-{c:07d}",
        "amount": f"{rng.randrange(10_000, 500_000)}",
        "currency": "COP",
        "received_on": "2026-03-02",
        "method": rng.choice(("pse", "Nequi", "efectivo", "transferencia")),
        "reference": f"INV-{i:08d}",
    }


def customer(i: int, customers: int, rng: random.Random) -> dict[str, Any]:
    return {
        "customer_id": f"CUS-{i:07d}",
        "name": f"Cliente {i}",
        "document_id": f"{10_000_000 + i}",
        "email": f"cliente{i}@example.com",
        "phone": f"+57 31{i % 10} {i:07d}",
        "account_ids": [f"ACC-{i:07d}"],
        "contact_points": [{"channel": "sms", "value": f"+57 31{i % 10} {i:07d}", "consent": True}],
    }


def reinvoice(i: int, customers: int, rng: random.Random) -> dict[str, Any]:
    """Next month's invoice of invoice ``i``'s debtor (same debtor, another id, 30 days later)."""
    body = invoice(i, customers, rng)
    issued = date.fromisoformat(body["issued_on"]) + timedelta(days=30)
    return {
        **body,
        "invoice_id": f"INV-{i:08d}-M2",
        "issued_on": issued.isoformat(),
        "due_on": (issued + timedelta(days=30)).isoformat(),
    }


def forget_process_caches() -> None:
    """A restart, as far as standardisation goes: every ``lru_cache`` of ingest's domain emptied (the
    code before ``ingest.debtors`` kept standardised debtors in such caches, the code after keeps none)."""
    from services.ingest.domain import requests, standardise

    for module in (requests, standardise):
        for value in vars(module).values():
            clear = getattr(value, "cache_clear", None)
            if callable(clear):
                clear()


BUILDERS = {"invoices": invoice, "payments": payment, "customers": customer, "reinvoices": reinvoice}


def measure(
    server: str, size: int, batch: int, kinds: Sequence[str]
) -> dict[str, tuple[float, float, float]]:
    """kind -> (items/s, CPU µs/item, COPY rows/s) on one fresh database, kinds in order."""
    from fastapi.testclient import TestClient

    rng = random.Random(7)
    customers = max(1, size // 4)
    out: dict[str, tuple[float, float, float]] = {}
    with ingest_context(server) as ctx:
        client = TestClient(create_app(ctx), headers=admin_headers(ctx))
        for kind in kinds:
            items = [BUILDERS[kind](i, customers, rng) for i in range(size)]

            def post(items: list[dict[str, Any]] = items, kind: str = kind) -> Iterator[None]:
                for start in range(0, len(items), batch):
                    response = client.post(PATHS[kind], json={"items": items[start : start + batch]})
                    if response.status_code != 200:
                        raise SystemExit(f"{kind}: HTTP {response.status_code} {response.text[:300]}")
                    body = response.json()
                    if body["rejected"]:
                        raise SystemExit(f"{kind}: rejected {body['items'][:2]}")
                    yield None

            if kind == "reinvoices":
                forget_process_caches()
            wall, cpu = timed(post())
            copy = copy_rate(ctx, [(str(next(iter(item.values()))), item) for item in items], batch)
            out[kind] = (size / wall, cpu / size * 1e6, copy)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--kinds", nargs="+", default=["invoices", "payments"], choices=sorted(PATHS))
    args = parser.parse_args()
    print(f"ingest bulk API, {args.batch} items per request, {os.cpu_count()} CPUs")
    print(f"{'kind':>10} {'items':>8} {'items/s':>9} {'CPU µs/item':>12} {'COPY rows/s':>12} {'ratio':>6}")
    with postgres() as server:
        for size in args.sizes:
            for kind, (rate, cpu, copy) in measure(server, size, args.batch, args.kinds).items():
                print(
                    f"{kind:>10} {size:>8,} {rate:>9,.0f} {cpu:>12,.0f} {copy:>12,.0f} {rate / copy:>6.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
