"""Benchmark: generate an N-row invoice CSV and import it with ``import_file`` (the CLI's code path).

    .venv/bin/python bench/ingest_csv.py --rows 1000000 [--chunk-size 1000] [--customers 100000]

Also prints PostgreSQL COPY of the same rows in the same run (the floor an import is held to).
Uses DATABASE_URL when set (a scratch database is created on that server), otherwise
starts an embedded PostgreSQL. Prints rows/s and the process's peak RSS (getrusage),
which shows that memory stays flat however large the file is.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

if not os.environ.get("PYTHONPATH"):  # PYTHONPATH=<old checkout> measures that checkout's code
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest_common import copy_rate

from libs.platform.databases import fresh_database
from libs.platform.registry import load_spec
from libs.runtime.context import ServiceContext
from libs.runtime.db import drop_database
from services.ingest.service_layer.files import ImportSummary, import_file

HEADER = [
    "invoice_id", "account_id", "amount", "currency", "issued_on", "due_on", "product_line",
    "customer_id", "customer_name", "document_id", "email", "phone", "country",
]  # fmt: skip


def generate(path: Path, rows: int, customers: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    start = date(2026, 1, 1)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(rows):
            c = rng.randrange(customers)
            issued = start + timedelta(days=rng.randrange(180))
            writer.writerow(
                [
                    f"INV-{i:08d}",
                    f"ACC-{c:07d}",
                    f"{rng.randrange(50_000, 5_000_000)}.{rng.randrange(100):02d}",
                    "COP",
                    issued.isoformat(),
                    (issued + timedelta(days=30)).isoformat(),
                    rng.choice(("auto", "vida", "hogar", "salud", "soat")),
                    f"CUS-{c:07d}",
                    f"Cliente {c}",
                    f"{10_000_000 + c}",
                    f"cliente{c}@example.com",
                    f"+57 31{c % 10} {c:07d}",
                    "CO",
                ]
            )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, default=1000)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="cobranza-bench-"))
    csv_path = workdir / "invoices.csv"
    started = time.perf_counter()
    generate(csv_path, args.rows, args.customers)
    print(
        f"generated {args.rows:,} rows ({csv_path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f}s"
    )
    print(f"peak RSS before import: {peak_rss_mb():.0f} MB")

    pg = None
    server = os.environ.get("DATABASE_URL")
    if not server:
        from libs.platform.embedded import EmbeddedPostgres

        pg = EmbeddedPostgres(workdir / "pgdata", ephemeral=True)
        server = pg.start()
    spec = load_spec("ingest")
    name = f"cobranza_bench_{os.getpid()}"
    url = fresh_database(server, [spec], name)
    ctx = ServiceContext.create(spec, url, pool_size=1)
    last = [0.0]

    def progress(s: ImportSummary) -> None:
        if s.seconds - last[0] >= 10 or s.rows == args.rows:
            last[0] = s.seconds
            print(
                f"{s.rows:>10,} rows  {s.rows / s.seconds:,.0f} rows/s  peak RSS {peak_rss_mb():.0f} MB",
                flush=True,
            )

    cpu = time.process_time()
    try:
        summary = import_file(
            ctx, csv_path, source="bench", kind="invoices", chunk_size=args.chunk_size, progress=progress
        )
        cpu = time.process_time() - cpu
        with csv_path.open(newline="", encoding="utf-8") as fh:
            rows = [(row["invoice_id"], row) for row in csv.DictReader(fh)]
        copy = copy_rate(ctx, rows, args.chunk_size)
    finally:
        ctx.dispose()
        drop_database(server, name)
        if pg is not None:
            pg.stop()
    print(
        f"imported {summary.rows:,} rows (accepted {summary.accepted:,}, duplicate {summary.duplicate:,}, "
        f"rejected {summary.rejected:,}) in {summary.seconds:.1f}s = {summary.rows / summary.seconds:,.0f} rows/s, "
        f"{cpu / summary.rows * 1e6:,.0f} CPU µs/row (this process); peak RSS {peak_rss_mb():.0f} MB"
    )
    print(
        f"PostgreSQL COPY of the same rows (id, JSON) in {args.chunk_size}-row transactions: {copy:,.0f} rows/s; "
        f"import / COPY = {summary.rows / summary.seconds / copy:.3f}"
    )


if __name__ == "__main__":
    main()
