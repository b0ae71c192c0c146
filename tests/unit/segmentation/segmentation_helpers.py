"""Contract envelopes for segmentation's tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import count
from typing import Any

from libs.events.catalog import Topics
from libs.events.envelope import Envelope

_ids = count(1)

INVOICE: dict[str, Any] = {
    "invoice_id": "I1",
    "account_id": "A1",
    "customer": {
        "customer_id": "C1",
        "name": "Ana Gómez",
        "kind": "person",
        "country": "CO",
        "timezone": "America/Bogota",
        "region": "Antioquia",
    },
    "amount": "300000.00",
    "currency": "COP",
    "issued_on": "2025-12-01",
    "due_on": "2025-12-15",
    "product_line": "autos",
    "advisor_id": "ASE-7",
    "office_id": "MED-01",
    "agency_id": "AG-3",
}


def envelope(
    event_type: str,
    data: dict[str, Any],
    event_id: str | None = None,
    *,
    tenant: str = "default",
    subject: str | None = None,
) -> Envelope:
    return Envelope(
        id=event_id or f"e{next(_ids)}",
        source="/test",
        type=event_type,
        time=datetime(2026, 1, 1, 15, tzinfo=UTC),
        subject=subject or data.get("account_id"),
        data=data,
        tenantid=tenant,
    )


def aged(bucket: str, dpd: int, overdue: str, account_id: str = "A1") -> Envelope:
    return envelope(
        "cobranza.account.aged",
        {
            "account_id": account_id,
            "bucket": bucket,
            "days_past_due": dpd,
            "overdue_amount": overdue,
            "currency": "COP",
        },
    )


def broken(promise_id: str) -> Envelope:
    return envelope(
        "cobranza.promise.broken",
        {
            "promise_id": promise_id,
            "account_id": "A1",
            "promised_amount": "100000",
            "paid_amount": "0",
            "currency": "COP",
            "due_on": "2025-12-20",
        },
    )


def changes(platform: Any) -> list[dict[str, Any]]:
    return [json.loads(p.record.value) for p in platform.broker.topics.get(Topics.SEGMENTS, [])]


def applied(
    payment_id: str,
    *allocations: tuple[str, str],
    credit_after: str = "0",
    account_id: str = "A1",
    applied_on: str = "2025-12-10",
) -> dict[str, Any]:
    """Reconciliation's ``payment.applied``: (invoice, open amount after) per allocation."""
    return {
        "payment_id": payment_id,
        "account_id": account_id,
        "currency": "COP",
        "amount_applied": "1",
        "allocations": [
            {"invoice_id": inv, "amount": "1", "invoice_open_amount_after": after}
            for inv, after in allocations
        ],
        "credit_balance_after": credit_after,
        "rule": "reference",
        "applied_on": applied_on,
    }


def reversal_applied(payment_id: str, *reopened: tuple[str, str], credit_after: str = "0") -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "account_id": "A1",
        "currency": "COP",
        "reopened": [
            {"invoice_id": inv, "amount": "1", "invoice_open_amount_after": after} for inv, after in reopened
        ],
        "credit_balance_after": credit_after,
        "reversed_on": "2025-12-30",
        "reason": "bounced_cheque",
    }
