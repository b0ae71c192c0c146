"""Benchmark: end to end, ``cobranza up``: N invoices + N payments through ingest's bulk API.

    .venv/bin/python bench/e2e_throughput.py [--accounts 10000 100000] [--batch 1000] [--timeout 3600]

Per size, on a fresh platform (``bench/e2e_common.py``: its own PostgreSQL, Tansu broker and
``cobranza up``): N synthetic accounts, each an overdue invoice and then the payment that settles
it, posted through ``/v1/invoices:bulk`` and ``/v1/payments:bulk`` (``--batch`` items a request,
four requests at a time). The clock runs from the first request until every consumer group's
lag (committed offsets vs high watermarks, every subscribed partition) and every service's
outbox backlog (rows with no ``published_at``) are zero: input events/s = 2N / that time. The
reference measured in the same run, after the platform is quiet: the raw produce→consume rate
of the same broker (2N records of 600 bytes, one producer, one consumer). Target: ≥ 3,000
input events/s. Runs the checkout on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_common import (
    Watcher,
    broker_reference,
    cobranza_up,
    cpu_by_process,
    cpu_delta,
    cpu_report,
    invoice_item,
    machine,
    payment_item,
    post_bulk,
)

TARGET = 3000.0


def run(accounts: int, batch: int, timeout: float) -> None:
    today = datetime.now(UTC).date()
    invoices = [invoice_item(n, today) for n in range(accounts)]
    payments = [payment_item(n, today) for n in range(accounts)]
    with cobranza_up() as stack:
        watcher = Watcher(stack)
        try:
            watcher.wait_quiet(120)
            cpu_before = cpu_by_process(stack, watcher.db)
            started = time.monotonic()
            post_bulk(stack, "/v1/invoices:bulk", invoices, "core_polizas", batch)
            invoices_in = time.monotonic()
            post_bulk(stack, "/v1/payments:bulk", payments, "banco", batch)
            accepted = time.monotonic()
            last = [0.0]

            def progress(now: float, lag: dict[str, int], backlog: dict[str, int]) -> None:
                if now - last[0] >= 10:
                    last[0] = now
                    busy = {k: v for k, v in lag.items() if v}
                    pending = {k: v for k, v in backlog.items() if v}
                    print(f"    +{now - started:6.1f}s lag {busy or 0} outbox {pending or 0}", flush=True)

            done = watcher.wait_quiet(timeout, on_poll=progress)
            cpu_used = cpu_delta(cpu_before, cpu_by_process(stack, watcher.db))
            rate = 2 * accounts / (done - started)
            print(
                f"  {accounts:>7} accounts: {2 * accounts} input events; bulk accepted in "
                f"{accepted - started:.1f} s (invoices {accounts / (invoices_in - started):,.0f}/s, "
                f"payments {accounts / (accepted - invoices_in):,.0f}/s); every lag and outbox zero after "
                f"{done - started:.1f} s: {rate:,.0f} input events/s ({rate / TARGET:.2f}x the 3,000/s target)",
                flush=True,
            )
            print(cpu_report(cpu_used, 2 * accounts, watcher.consumed()), flush=True)
            raw = broker_reference(stack.bootstrap, 2 * accounts)
            print(
                f"  reference: raw produce->consume of the same broker, {2 * accounts} records: "
                f"{raw:,.0f} records/s; end to end is {rate / raw:.3f}x of it",
                flush=True,
            )
        finally:
            watcher.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--batch", type=int, default=1000, help="items per bulk request (≤ 10,000)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for zero lag")
    args = parser.parse_args()
    print(f"machine: {machine()}; started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    for accounts in args.accounts:
        try:
            run(accounts, args.batch, args.timeout)
        except (TimeoutError, RuntimeError) as exc:
            print(f"  {accounts} accounts failed: {exc}", flush=True)
    print(f"machine at the end: {machine()}")


if __name__ == "__main__":
    main()
