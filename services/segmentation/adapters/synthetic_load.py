"""Store a synthetic portfolio (domain/synthetic.py) in segmentation's tables, set-based.

Used by the training benchmark and tests to exercise ``cobranza segments train``
on a realistic volume without replaying every event through the handlers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from services.segmentation.adapters.orm import accounts, aging_history, invoices, payments, promise_outcomes
from services.segmentation.domain.synthetic import SyntheticAccount


def load_portfolio(
    session: Session, portfolio: Sequence[SyntheticAccount], tenant: str, now: datetime
) -> None:
    account_rows: list[dict[str, Any]] = []
    invoice_rows: list[dict[str, Any]] = []
    payment_rows: list[dict[str, Any]] = []
    aging_rows: list[dict[str, Any]] = []
    promise_rows: list[dict[str, Any]] = []
    for account in portfolio:
        h = account.history
        last = h.aging[-1] if h.aging else None
        billed = sum((a for _, a in h.invoices), Decimal(0))
        paid = sum((p.amount for p in h.payments), Decimal(0))
        account_rows.append(
            {
                "tenant_id": tenant,
                "account_id": h.account_id,
                "currency": "COP",
                "timezone": "America/Bogota",
                "customer_kind": account.customer_kind,
                "country": "CO",
                "region": account.region,
                "product_line": account.product_line,
                "first_issued_on": h.first_issued_on(),
                "total_balance": max(billed - paid, Decimal(0)),
                "bucket": last.bucket if last else "current",
                "days_past_due": last.days_past_due if last else 0,
                "aged_on": last.on if last else None,
                "overdue_balance": last.overdue if last else Decimal(0),
                "broken_promises": len(h.broken),
                "kept_promises": len(h.kept),
                "last_payment_on": h.payments[-1].on if h.payments else None,
                "updated_at": now,
            }
        )
        for n, (due_on, amount) in enumerate(account.due_dates):
            invoice_rows.append(
                {
                    "tenant_id": tenant,
                    "invoice_id": f"{h.account_id}-I{n}",
                    "account_id": h.account_id,
                    "amount": amount,
                    "currency": "COP",
                    "issued_on": h.invoices[n][0],
                    "due_on": due_on,
                }
            )
        for n, p in enumerate(h.payments):
            payment_rows.append(
                {
                    "tenant_id": tenant,
                    "payment_id": f"{h.account_id}-P{n}",
                    "account_id": h.account_id,
                    "amount": p.amount,
                    "currency": "COP",
                    "received_on": p.on,
                    "on_time": p.on_time,
                }
            )
        for n, a in enumerate(h.aging):
            aging_rows.append(
                {
                    "tenant_id": tenant,
                    "event_id": f"{h.account_id}-G{n}",
                    "account_id": h.account_id,
                    "currency": "COP",
                    "effective_on": a.on,
                    "bucket": a.bucket,
                    "days_past_due": a.days_past_due,
                    "overdue_amount": a.overdue,
                }
            )
        for outcome, dates in (("kept", h.kept), ("broken", h.broken)):
            for n, d in enumerate(dates):
                promise_rows.append(
                    {
                        "tenant_id": tenant,
                        "promise_id": f"{h.account_id}-{outcome}{n}",
                        "account_id": h.account_id,
                        "outcome": outcome,
                        "due_on": d,
                    }
                )
    for table, rows in (
        (accounts, account_rows),
        (invoices, invoice_rows),
        (payments, payment_rows),
        (aging_history, aging_rows),
        (promise_outcomes, promise_rows),
    ):
        if rows:
            session.execute(insert(table), rows)
