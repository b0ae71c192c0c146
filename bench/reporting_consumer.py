"""Benchmark: reporting's consumer, straight through ``EventProcessor.process`` on a real PostgreSQL.

    .venv/bin/python bench/reporting_consumer.py [--sizes 1000 10000 100000] [--batch 500]

Feeds N synthetic contract events (twelve per account, the accounts interleaved as a stream
carries them: two invoices, an aged account, two payments received and applied by
reconciliation, an adjustment, a promise made and kept, a contact due and its outcome) in poll
batches of ``--batch`` records, on a fresh database per size, and reports events/s and the Python
process's CPU µs per event, against the no-op runtime (the same records, the same inbox and
transaction, handlers that do nothing) in the same run. PostgreSQL's own CPU is not in the CPU
column (another process). Uses DATABASE_URL if set, else an embedded PostgreSQL in a temporary
directory. Runs the handlers of the checkout on PYTHONPATH (per-event or batch).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from consumer_harness import START, Scenario, customer_of, main, records, standard_columns

from libs.runtime.transport.base import Record


def _scenario(n: int) -> Scenario:
    """One account's events as (type, record key, data), in the order a stream would carry them."""
    account = f"ACC-{n:07d}"
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
            "product_line": ("auto", "vida", "hogar", "salud")[n % 4],
            "advisor_id": f"ADV-{n % 50}",
            "office_id": f"OF-{n % 7}",
            "agency_id": f"AG-{n % 3}",
        }

    def received(pid: str) -> dict[str, Any]:
        return {
            "payment_id": pid,
            "account_id": account,
            "amount": "60000",
            "currency": "COP",
            "received_on": "2026-03-02",
        }

    def applied(pid: str, settled: str) -> dict[str, Any]:
        return {
            "payment_id": pid,
            "account_id": account,
            "currency": "COP",
            "amount_applied": "60000",
            "allocations": [
                {
                    "invoice_id": f"INV-{n}-3",
                    "amount": "60000",
                    "invoice_open_amount_after": str(120000 - int(settled)),
                    "invoice_settled_after": settled,
                }
            ],
            "credit_created": "0",
            "credit_balance_after": "0",
            "rule": "reference",
            "applied_on": "2026-03-02",
        }

    promise = {"promise_id": f"P-{n}", "account_id": account, "currency": "COP", "due_on": "2026-03-20"}
    contact = {"contact_id": f"K-{n}", "account_id": account, "channel": "sms"}
    return [
        ("cobranza.invoice.issued", account, invoice(3)),
        ("cobranza.invoice.issued", account, invoice(4)),
        (
            "cobranza.account.aged",
            account,
            {
                "account_id": account,
                "bucket": "dpd_1_30",
                "stage": "early",
                "previous_bucket": "current",
                "previous_stage": "current",
                "days_past_due": 5,
                "overdue_amount": "120000",
                "currency": "COP",
            },
        ),
        ("cobranza.payment.received", account, received(f"X-{n}-1")),
        ("cobranza.payment.applied", account, applied(f"X-{n}-1", "60000")),
        ("cobranza.promise.made", account, {**promise, "amount": "60000", "made_via": "call_center"}),
        (
            "cobranza.contact.due",
            account,
            {
                **contact,
                "scheduled_for": START.isoformat(),
                "strategy": "default",
                "step": "reminder",
                "template": "t",
            },
        ),
        (
            "cobranza.contact.outcome",
            account,
            {**contact, "status": "delivered", "occurred_at": START.isoformat()},
        ),
        (
            "cobranza.invoice.adjusted",
            account,
            {
                "adjustment_id": f"ADJ-{n}",
                "invoice_id": f"INV-{n}-4",
                "account_id": account,
                "new_amount": "100000",
                "currency": "COP",
                "reason": "endorsement",
                "effective_on": "2026-03-02",
            },
        ),
        ("cobranza.payment.received", account, received(f"X-{n}-2")),
        ("cobranza.payment.applied", account, applied(f"X-{n}-2", "120000")),
        ("cobranza.promise.kept", account, {**promise, "promised_amount": "60000", "paid_amount": "60000"}),
    ]


def reporting_records(total: int) -> list[Record]:
    return records(total, _scenario)


if __name__ == "__main__":
    main(__doc__, "reporting", reporting_records, standard_columns("reporting ev/s"))
