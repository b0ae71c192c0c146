"""Benchmark: latency at a steady input rate, ``cobranza up``: payment posted → balance and contacts.

    .venv/bin/python bench/e2e_latency.py [--accounts 5000] [--rate 500] [--tick 0.1] [--timeout 900]

On a fresh platform (``bench/e2e_common.py``), set-up (not timed): N synthetic customers with
consent and N overdue invoices, until every lag and outbox is zero, then the dunning contacts
strategy planned (``status = 'planned'``) are noted per account. Measured: the N payments that
settle those invoices, posted through ``/v1/payments:bulk`` at a steady ``--rate`` per second
(``rate * tick`` items every ``tick`` seconds); each payment's time is when its request was
sent. Two SQL polls every ``--poll`` seconds (one statement each, ``= ANY`` over the payments
still waiting) record when reporting's invoice for it reads ``open_amount = 0`` (its balance
updated) and when the account has no planned dunning contact left (its pending contacts
cancelled; only accounts that had some). Reports p50/p95/p99/max of both, the rate actually
posted, and, as the limit measured in the same run, the poll interval (the resolution). Target:
p99 ≤ 1 s for both.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_common import (
    Stack,
    Watcher,
    account,
    cobranza_up,
    customer_item,
    invoice_item,
    machine,
    payment_item,
    post_bulk,
)

TARGET_S = 1.0


def quantiles(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return (
        f"p50 {q(0.50) * 1000:,.0f} ms, p95 {q(0.95) * 1000:,.0f} ms, p99 {q(0.99) * 1000:,.0f} ms, "
        f"max {ordered[-1] * 1000:,.0f} ms, mean {statistics.fmean(ordered) * 1000:,.0f} ms "
        f"(n={len(ordered)}; p99 {q(0.99) / TARGET_S:.2f}x the 1 s target)"
    )


def planned_contacts(watcher: Watcher, accounts: list[str]) -> set[str]:
    rows = watcher.db.execute(
        "SELECT DISTINCT account_id FROM strategy.contacts WHERE tenant_id = 'default' "
        "AND account_id = ANY(%s) AND kind = 'dunning' AND status = 'planned'",
        (accounts,),
    ).fetchall()
    return {r[0] for r in rows}


def run(stack: Stack, args: argparse.Namespace) -> None:
    today = datetime.now(UTC).date()
    n = args.accounts
    watcher = Watcher(stack)
    try:
        watcher.wait_quiet(120)
        post_bulk(stack, "/v1/customers:bulk", [customer_item(i) for i in range(n)], "core_polizas", 1000)
        post_bulk(
            stack, "/v1/invoices:bulk", [invoice_item(i, today) for i in range(n)], "core_polizas", 1000
        )
        watcher.wait_quiet(args.timeout)
        with_contacts = planned_contacts(watcher, [account(i) for i in range(n)])
        print(f"  set-up: {n} accounts with an overdue invoice, {len(with_contacts)} with planned contacts")

        sent_at: dict[int, float] = {}
        per_tick = max(1, round(args.rate * args.tick))
        lock = threading.Lock()
        finished = threading.Event()

        def producer() -> None:
            """One bulk request a tick, sent without waiting for the previous one (a steady rate)."""
            start = time.monotonic()
            with ThreadPoolExecutor(max_workers=8) as pool:
                sending = []
                for k, first in enumerate(range(0, n, per_tick)):
                    time.sleep(max(0.0, start + k * args.tick - time.monotonic()))  # the next tick
                    chunk = list(range(first, min(n, first + per_tick)))
                    with lock:
                        sent_at.update(dict.fromkeys(chunk, time.monotonic()))
                    items = [payment_item(i, today) for i in chunk]
                    sending.append(
                        pool.submit(post_bulk, stack, "/v1/payments:bulk", items, "banco", 10_000, 1)
                    )
                for future in sending:
                    future.result()
            finished.set()

        balance_at: dict[int, float] = {}
        contacts_at: dict[int, float] = {}
        thread = threading.Thread(target=producer, daemon=True)
        began = time.monotonic()
        thread.start()
        deadline = began + args.timeout
        while time.monotonic() < deadline:
            with lock:
                sent = dict(sent_at)
            waiting_balance = [i for i in sent if i not in balance_at]
            waiting_contacts = [i for i in sent if i not in contacts_at and account(i) in with_contacts]
            if waiting_balance:
                rows = watcher.db.execute(
                    "SELECT invoice_id FROM reporting.invoices WHERE tenant_id = 'default' "
                    "AND invoice_id = ANY(%s) AND open_amount = 0",
                    ([f"INV-{i:07d}" for i in waiting_balance],),
                ).fetchall()
                seen = time.monotonic()
                for (invoice_id,) in rows:
                    balance_at[int(invoice_id.removeprefix("INV-"))] = seen
            if waiting_contacts:
                still = planned_contacts(watcher, [account(i) for i in waiting_contacts])
                seen = time.monotonic()
                for i in waiting_contacts:
                    if account(i) not in still:
                        contacts_at[i] = seen
            if (
                finished.is_set()
                and len(balance_at) == n
                and all(i in contacts_at for i in sent if account(i) in with_contacts)
            ):
                break
            time.sleep(args.poll)
        posting = max(sent_at.values()) - min(sent_at.values()) if len(sent_at) > 1 else 0.0
        print(
            f"  posted {len(sent_at)} payments in {posting:.1f} s "
            f"({(len(sent_at) - per_tick) / posting if posting else 0:,.0f} input events/s, asked {args.rate}/s)"
        )
        balance = [balance_at[i] - sent_at[i] for i in balance_at]
        contacts = [contacts_at[i] - sent_at[i] for i in contacts_at]
        missing_b = len(sent_at) - len(balance_at)
        missing_c = sum(1 for i in sent_at if account(i) in with_contacts) - len(contacts_at)
        print(f"  payment → reporting balance updated: {quantiles(balance)}; not seen: {missing_b}")
        print(f"  payment → pending contacts cancelled: {quantiles(contacts)}; not seen: {missing_c}")
        print(
            f"  resolution (limit of this measurement): poll every {args.poll * 1000:.0f} ms plus one query"
        )
    finally:
        watcher.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=5000, help="payments posted (one per account)")
    parser.add_argument("--rate", type=float, default=500.0, help="payments per second")
    parser.add_argument("--tick", type=float, default=0.1, help="seconds between bulk requests")
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between SQL polls")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    print(f"machine: {machine()}; started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    with cobranza_up() as stack:
        run(stack, args)
    print(f"machine at the end: {machine()}")


if __name__ == "__main__":
    main()
