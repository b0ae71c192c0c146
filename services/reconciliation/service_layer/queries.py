"""Read models for the API: suspense queue, candidates, audit trail, account statements."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.reconciliation.adapters import repository as repo
from services.reconciliation.adapters.orm import accounts, allocations, audit, credits, invoices, payments
from services.reconciliation.domain.model import ZERO, Candidate
from services.reconciliation.domain.suspense import SuspenseLine, candidates


def _money(value: Decimal) -> str:
    return format(value.normalize() if value == value.to_integral() else value, "f")


def suspense(session: Session, tenant: str, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    rows = session.execute(
        select(payments)
        .where(payments.c.tenant_id == tenant, payments.c.status == "suspense")
        .order_by(payments.c.received_on, payments.c.payment_id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        {
            "payment_id": r.payment_id,
            "amount": _money(r.amount),
            "currency": r.currency,
            "received_on": r.received_on.isoformat(),
            "method": r.method,
            "method_detail": r.method_detail,
            "claimed_account_id": r.claimed_account_id,
            "reference": r.reference,
            "payer_name": r.payer_name,
            "reason": r.suspense_reason,
        }
        for r in rows
    ]


def suspense_candidates(
    session: Session, tenant: str, payment_id: str, limit: int = 10
) -> list[Candidate] | None:
    row = repo.payment_row(session, tenant, payment_id)
    if row is None or row.status != "suspense":
        return None
    open_rows = session.execute(
        select(invoices).where(
            invoices.c.tenant_id == tenant,
            invoices.c.currency == row.currency,
            invoices.c.status == "open",
            invoices.c.open_amount > 0,
        )
    ).all()
    candidate_accounts = sorted({r.account_id for r in open_rows})
    names = {
        r.account_id: r.customer_name
        for r in session.execute(
            select(accounts.c.account_id, accounts.c.customer_name).where(
                accounts.c.tenant_id == tenant, accounts.c.account_id.in_(candidate_accounts)
            )
        ).all()
        if r.customer_name
    }
    line = SuspenseLine(
        row.payment_id, row.amount, row.currency, row.received_on, row.payer_name, row.reference
    )
    return candidates(line, [repo.to_invoice(r) for r in open_rows], names, limit)


def audit_trail(
    session: Session, tenant: str, *, payment_id: str | None = None, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    query = select(audit).where(audit.c.tenant_id == tenant)
    if payment_id is not None:
        query = query.where(audit.c.payment_id == payment_id)
    rows = session.execute(
        query.order_by(audit.c.at.desc(), audit.c.id.desc()).limit(limit).offset(offset)
    ).all()
    return [
        {
            "id": r.id,
            "at": r.at.isoformat(),
            "user": r.actor,
            "action": r.action,
            "reason": r.reason,
            "payment_id": r.payment_id,
            "account_id": r.account_id,
            "invoice_id": r.invoice_id,
            "details": r.details,
        }
        for r in rows
    ]


def statement(session: Session, tenant: str, account_id: str) -> dict[str, Any] | None:
    """The account's books; None for an account nobody made known (or another tenant's)."""
    known = session.execute(
        select(accounts.c.account_id, accounts.c.customer_name).where(
            accounts.c.tenant_id == tenant, accounts.c.account_id == account_id, accounts.c.known
        )
    ).first()
    if known is None:
        return None
    invoice_rows = session.execute(
        select(invoices)
        .where(invoices.c.tenant_id == tenant, invoices.c.account_id == account_id)
        .order_by(invoices.c.due_on, invoices.c.invoice_id)
    ).all()
    payment_rows = session.execute(
        select(payments)
        .where(payments.c.tenant_id == tenant, payments.c.account_id == account_id)
        .order_by(payments.c.received_on, payments.c.payment_id)
    ).all()
    allocation_rows = session.execute(
        select(allocations)
        .where(allocations.c.tenant_id == tenant, allocations.c.account_id == account_id)
        .order_by(allocations.c.id)
    ).all()
    credit_rows = session.execute(
        select(credits.c.currency, func.sum(credits.c.amount))
        .where(credits.c.tenant_id == tenant, credits.c.account_id == account_id)
        .group_by(credits.c.currency)
    ).all()
    currencies: dict[str, dict[str, Decimal]] = {}

    def book(currency: str) -> dict[str, Decimal]:
        return currencies.setdefault(currency, {"open": ZERO, "credit": ZERO})

    for inv in invoice_rows:
        book(inv.currency)["open"] += inv.open_amount
    for currency, amount in credit_rows:
        book(currency)["credit"] += amount
    return {
        "account_id": account_id,
        "customer_name": known.customer_name,
        "invoices": [
            {
                "invoice_id": i.invoice_id,
                "currency": i.currency,
                "amount": _money(i.amount),
                "open_amount": _money(i.open_amount),
                "issued_on": i.issued_on.isoformat(),
                "due_on": i.due_on.isoformat(),
                "policy_number": i.policy_number,
                "status": i.status,
            }
            for i in invoice_rows
        ],
        "payments": [
            {
                "payment_id": p.payment_id,
                "currency": p.currency,
                "amount": _money(p.amount),
                "received_on": p.received_on.isoformat(),
                "status": p.status,
                "rule": p.rule,
                "reversed_on": p.reversed_on.isoformat() if p.reversed_on else None,
            }
            for p in payment_rows
        ],
        "allocations": [
            {
                "payment_id": a.payment_id,
                "invoice_id": a.invoice_id,
                "currency": a.currency,
                "amount": _money(a.amount),
                "written_off": _money(a.written_off),
                "rule": a.rule,
                "applied_on": a.applied_on.isoformat(),
                "reversed": a.reversed,
            }
            for a in allocation_rows
        ],
        "balances": [
            {
                "currency": currency,
                "open_amount": _money(b["open"]),
                "credit_balance": _money(b["credit"]),
                "balance": _money(b["open"] - b["credit"]),
            }
            for currency, b in sorted(currencies.items())
        ],
    }
