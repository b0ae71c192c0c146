"""Benchmark: reconciliation's consumer, straight through ``EventProcessor.process`` on a real PostgreSQL.

    .venv/bin/python bench/reconciliation_consumer.py [--sizes 1000 10000 100000] [--batch 500]

Feeds N synthetic contract events (ten per account, the accounts interleaved as a stream carries
them: a customer link, two invoices, six payments of the account matched by reference, exact
amount, oldest first and as credit, one payment without account named by its remittance, and a
bounced payment that reopens its invoice) in poll batches of ``--batch`` records, on a fresh
database per size, and reports events/s, payments/s and the Python process's CPU µs per event,
against the no-op runtime (the same records, the same inbox and transaction, handlers that do
nothing) in the same run. PostgreSQL's own CPU is not in the CPU column (another process).
Uses DATABASE_URL if set, else an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from consumer_harness import Column, Row, Scenario, customer_of, main, records, standard_columns

from libs.runtime.transport.base import Record

PAYMENTS_PER_ACCOUNT = 7  # six payment.received and one payment.reversed per account


def _scenario(n: int) -> Scenario:
    """One account's events as (type, record key, data), in the order a stream would carry them."""
    account, customer_id = f"ACC-{n:07d}", f"CUS-{n:07d}"
    customer = customer_of(n)

    def invoice(month: int, amount: str) -> dict[str, Any]:
        return {
            "invoice_id": f"INV-{n}-{month}",
            "account_id": account,
            "customer": customer,
            "amount": amount,
            "currency": "COP",
            "issued_on": date(2026, month, 1).isoformat(),
            "due_on": date(2026, month, 25).isoformat(),
            "product_line": "auto",
            "policy_number": f"POL-{n:07d}-{month}",
        }

    def paid(
        pid: str, amount: str, *, account_id: str | None = account, ref: str | None = None
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "payment_id": f"PAY-{n}-{pid}",
            "amount": amount,
            "currency": "COP",
            "received_on": "2026-03-02",
            "method": "pse",
        }
        if account_id is not None:
            data["account_id"] = account_id
        if ref is not None:
            data["reference"] = ref
        return data

    return [
        ("cobranza.customer.upserted", customer_id, {**customer, "account_ids": [account]}),
        ("cobranza.invoice.issued", account, invoice(2, "120000.00")),
        ("cobranza.invoice.issued", account, invoice(3, "90000.00")),
        ("cobranza.payment.received", account, paid("1", "30000", ref=f"INV-{n}-3")),
        ("cobranza.payment.received", account, paid("2", "90000")),
        ("cobranza.payment.received", account, paid("3", "50000")),
        (
            "cobranza.payment.received",
            f"unidentified:PAY-{n}-4",
            paid("4", "20000", account_id=None, ref=f"PAGO POL-{n:07d}-3"),
        ),
        ("cobranza.payment.received", account, paid("5", "40000")),
        ("cobranza.payment.received", account, paid("6", "15000")),
        (
            "cobranza.payment.reversed",
            account,
            {
                "payment_id": f"PAY-{n}-2",
                "account_id": account,
                "reversed_on": "2026-03-02",
                "reason": "insufficient_funds",
            },
        ),
    ]


def reconciliation_records(total: int) -> list[Record]:
    return records(total, _scenario)


def _payments(row: Row) -> float:
    return row.real.rate * PAYMENTS_PER_ACCOUNT / len(_scenario(0))


COLUMNS = standard_columns("recon ev/s")
COLUMNS.insert(2, Column("payments/s", 11, _payments))

if __name__ == "__main__":
    main(__doc__, "reconciliation", reconciliation_records, COLUMNS)
