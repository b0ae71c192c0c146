"""Benchmark: aging's consumer, straight through ``EventProcessor.process`` on a real PostgreSQL.

    .venv/bin/python bench/aging_consumer.py [--sizes 1000 10000 100000] [--batch 500]

Feeds N synthetic contract events (eight per account, the accounts interleaved as the invoices
and allocations topics carry them: two invoices issued, one already overdue and, for one account
in four, a policy with grace; a partial payment; an adjustment; the rest paid; that payment
reversed; the second invoice cancelled; the first paid again) in poll batches of ``--batch``
records, on a fresh database per size, and reports events/s and the Python process's CPU µs per
event, against the no-op runtime (the same records, the same inbox and transaction, handlers that
do nothing) in the same run. PostgreSQL's own CPU is not in the CPU column (another process).
To measure another checkout's handlers, run this file with ``PYTHONPATH=<checkout>``.
Uses DATABASE_URL if set, else an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from consumer_harness import Scenario, customer_of, main, records, standard_columns

from libs.runtime.transport.base import Record


def _scenario(n: int) -> Scenario:
    """One account's events as (type, record key, data), in the order its topics would carry them."""
    account = f"ACC-{n:07d}"
    customer = customer_of(n)
    first, second = f"INV-{n}-1", f"INV-{n}-2"

    def issued(invoice_id: str, due_on: date) -> dict[str, Any]:
        policy = {"product_line": "vida", "policy_number": f"POL-{n}"} if n % 4 == 0 else {}
        return {
            "invoice_id": invoice_id,
            "account_id": account,
            "customer": customer,
            "amount": "120000.00",
            "currency": "COP",
            "issued_on": "2026-02-01",
            "due_on": due_on.isoformat(),
            "product_line": "auto",
            **policy,
        }

    def money(
        kind: str, pid: str, amount: str, open_after: str, settled: str
    ) -> tuple[str, str, dict[str, Any]]:
        line = {
            "invoice_id": first,
            "amount": amount,
            "invoice_open_amount_after": open_after,
            "invoice_settled_after": settled,
        }
        base = {"payment_id": pid, "account_id": account, "currency": "COP", "credit_balance_after": "0"}
        if kind == "applied":
            data = {
                **base,
                "amount_applied": amount,
                "allocations": [line],
                "rule": "reference",
                "applied_on": "2026-03-02",
            }
            return "cobranza.payment.applied", account, data
        data = {**base, "reopened": [line], "reversed_on": "2026-03-02", "reason": "insufficient_funds"}
        return "cobranza.payment.reversal_applied", account, data

    return [
        ("cobranza.invoice.issued", account, issued(first, date(2026, 2, 25))),
        ("cobranza.invoice.issued", account, issued(second, date(2026, 3, 25))),
        money("applied", f"PAY-{n}-1", "60000", "60000", "60000"),
        (
            "cobranza.invoice.adjusted",
            account,
            {
                "adjustment_id": f"ADJ-{n}",
                "invoice_id": second,
                "account_id": account,
                "new_amount": "100000.00",
                "currency": "COP",
                "reason": "endorsement",
                "effective_on": "2026-03-02",
            },
        ),
        money("applied", f"PAY-{n}-2", "60000", "0", "120000"),
        money("reversal", f"PAY-{n}-2", "60000", "60000", "60000"),
        (
            "cobranza.invoice.cancelled",
            account,
            {
                "invoice_id": second,
                "account_id": account,
                "reason": "written_off",
                "cancelled_on": "2026-03-02",
            },
        ),
        money("applied", f"PAY-{n}-3", "60000", "0", "120000"),
    ]


def aging_records(total: int) -> list[Record]:
    return records(total, _scenario)


if __name__ == "__main__":
    main(__doc__, "aging", aging_records, standard_columns("ev/s", emitted=True))
