"""Benchmark: strategy's consumer, straight through ``EventProcessor.process`` on a real PostgreSQL.

    .venv/bin/python bench/strategy_consumer.py [--sizes 1000 10000 100000] [--batch 500]

Feeds N synthetic contract events (ten per account, the accounts interleaved as a stream
carries them: a customer, two invoices, aged overdue then cured, a segment change, a promise,
two applications that keep it and a bounced one that reopens it) in poll batches of ``--batch``
records, on a fresh database per size, and reports events/s and the Python process's CPU µs per
event, against the no-op runtime (the same records, the same inbox and transaction, handlers that
do nothing) in the same run. PostgreSQL's own CPU is not in the CPU column (another process).
Uses DATABASE_URL if set, else an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from consumer_harness import Scenario, customer_of, main, records, standard_columns

from libs.runtime.transport.base import Record


def _scenario(n: int) -> Scenario:
    """One account's events as (type, record key, data), in the order a stream would carry them."""
    account, customer_id = f"ACC-{n:07d}", f"CUS-{n:07d}"
    customer = customer_of(n)

    def invoice(month: int) -> dict[str, Any]:
        return {
            "invoice_id": f"INV-{n}-{month}",
            "account_id": account,
            "customer": customer,
            "amount": "120000.00",
            "currency": "COP",
            "issued_on": date(2026, month, 1).isoformat(),
            "due_on": date(2026, month, 25).isoformat(),
            "product_line": "auto",
        }

    def applied(pid: str, amount: str) -> dict[str, Any]:
        return {
            "payment_id": pid,
            "account_id": account,
            "currency": "COP",
            "amount_applied": amount,
            "allocations": [{"invoice_id": f"INV-{n}-2", "amount": amount, "invoice_open_amount_after": "0"}],
            "credit_created": "0",
            "credit_balance_after": "0",
            "rule": "reference",
            "applied_on": "2026-03-02",
        }

    aged = {"account_id": account, "days_past_due": 5, "overdue_amount": "120000", "currency": "COP"}
    consent = [
        {"channel": "email", "value": f"c{n}@example.co", "consent": True},
        {"channel": "sms", "value": f"+57300{n:07d}", "consent": n % 3 != 0},
    ]
    return [
        (
            "cobranza.customer.upserted",
            customer_id,
            {**customer, "account_ids": [account], "contact_points": consent},
        ),
        ("cobranza.invoice.issued", account, invoice(3)),
        ("cobranza.account.aged", account, {**aged, "bucket": "dpd_1_30", "stage": "early"}),
        (
            "cobranza.segment.changed",
            account,
            {"account_id": account, "segment": "dpd_61_90" if n % 2 else "x"},
        ),
        (
            "cobranza.promise.made",
            account,
            {
                "promise_id": f"P-{n}",
                "account_id": account,
                "amount": "120000",
                "currency": "COP",
                "due_on": "2026-03-20",
                "made_via": "call_center",
            },
        ),
        ("cobranza.payment.applied", account, applied(f"X-{n}-1", "60000")),
        ("cobranza.payment.applied", account, applied(f"X-{n}-2", "60000")),
        ("cobranza.invoice.issued", account, invoice(4)),
        (
            "cobranza.account.aged",
            account,
            {**aged, "bucket": "current", "stage": "current", "days_past_due": 0, "overdue_amount": "0"},
        ),
        (
            "cobranza.payment.reversal_applied",
            account,
            {
                "payment_id": f"X-{n}-2",
                "account_id": account,
                "currency": "COP",
                "reopened": [
                    {"invoice_id": f"INV-{n}-2", "amount": "60000", "invoice_open_amount_after": "60000"}
                ],
                "credit_balance_after": "0",
                "reversed_on": "2026-03-02",
                "reason": "insufficient_funds",
            },
        ),
    ]


def strategy_records(total: int) -> list[Record]:
    return records(total, _scenario)


if __name__ == "__main__":
    main(__doc__, "strategy", strategy_records, standard_columns("strategy ev/s"))
