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


def segmentation_records(total: int) -> list[Record]:
    return records(total, _scenario)


if __name__ == "__main__":
    main(__doc__, "segmentation", segmentation_records, standard_columns("segment. ev/s"))
