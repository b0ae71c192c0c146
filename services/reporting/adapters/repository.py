"""Set-based writes of reporting's projections: one statement per table per event.

The ordering rules these statements enforce are written once, in
``services/reporting/domain/money.py``; the SQL here is their implementation.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from services.reporting.adapters.orm import accounts, first_buckets, invoices, payment_states
from services.reporting.domain.buckets import FirstBucket
from services.reporting.domain.money import PAYMENT_STATES, state_rank


def set_open_amounts(
    session: Session,
    *,
    tenant: str,
    account_id: str,
    currency: str,
    open_after: Mapping[str, Decimal],
    as_of: datetime,
    cause: str | None,
    now: datetime,
) -> None:
    """Rule 1: set each named invoice's open amount unless a newer allocation already did.

    An allocation may overtake its invoice (another topic): the row is created
    with what the allocation knows, and ``invoice.issued`` fills in the rest.
    """
    if not open_after:
        return
    stmt = pg_insert(invoices).values(
        [
            {
                "tenant_id": tenant,
                "invoice_id": invoice_id,
                "account_id": account_id,
                "currency": currency,
                "open_amount": amount,
                "open_as_of": as_of,
                "open_cause": cause,
                "status": "open",
                "updated_at": now,
            }
            for invoice_id, amount in open_after.items()
        ]
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[invoices.c.tenant_id, invoices.c.invoice_id],
            set_={
                "open_amount": stmt.excluded.open_amount,
                "open_as_of": stmt.excluded.open_as_of,
                "open_cause": stmt.excluded.open_cause,
                "updated_at": stmt.excluded.updated_at,
            },
            where=or_(invoices.c.open_as_of.is_(None), invoices.c.open_as_of <= stmt.excluded.open_as_of),
        )
    )


def set_credit(
    session: Session,
    *,
    tenant: str,
    account_id: str,
    currency: str,
    credit_balance: Decimal,
    as_of: datetime,
    now: datetime,
) -> None:
    """Rule 4: the (account, currency) credit is reconciliation's latest ``credit_balance_after``."""
    stmt = pg_insert(accounts).values(
        tenant_id=tenant,
        account_id=account_id,
        currency=currency,
        credit_balance=credit_balance,
        credit_as_of=as_of,
        updated_at=now,
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[accounts.c.tenant_id, accounts.c.account_id, accounts.c.currency],
            set_={
                "credit_balance": stmt.excluded.credit_balance,
                "credit_as_of": stmt.excluded.credit_as_of,
                "updated_at": stmt.excluded.updated_at,
            },
            where=or_(
                accounts.c.credit_as_of.is_(None), accounts.c.credit_as_of <= stmt.excluded.credit_as_of
            ),
        )
    )


def set_bucket(
    session: Session,
    *,
    tenant: str,
    account_id: str,
    currency: str,
    bucket: str,
    stage: str | None,
    days_past_due: int,
    as_of: datetime,
    now: datetime,
) -> None:
    """The (account, currency) bucket as aging named it, unless a newer ``account.aged`` already arrived."""
    stmt = pg_insert(accounts).values(
        tenant_id=tenant,
        account_id=account_id,
        currency=currency,
        bucket=bucket,
        stage=stage,
        days_past_due=days_past_due,
        aged_at=as_of,
        updated_at=now,
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[accounts.c.tenant_id, accounts.c.account_id, accounts.c.currency],
            set_={
                "bucket": stmt.excluded.bucket,
                "stage": stmt.excluded.stage,
                "days_past_due": stmt.excluded.days_past_due,
                "aged_at": stmt.excluded.aged_at,
                "updated_at": stmt.excluded.updated_at,
            },
            where=or_(accounts.c.aged_at.is_(None), accounts.c.aged_at <= stmt.excluded.aged_at),
        )
    )


def was_announced(session: Session, *, tenant: str, account_id: str, currency: str) -> bool:
    """Has any ``account.aged`` for this (account, currency) been projected already?"""
    found = session.execute(
        select(accounts.c.bucket).where(
            accounts.c.tenant_id == tenant,
            accounts.c.account_id == account_id,
            accounts.c.currency == currency,
            accounts.c.bucket.is_not(None),
        )
    ).first()
    return found is not None


def learn_first_bucket(session: Session, *, tenant: str, first: FirstBucket, as_of: datetime) -> None:
    """The tenant's first bucket, as the latest evidence says (a scheme may be renamed)."""
    stmt = pg_insert(first_buckets).values(
        tenant_id=tenant, bucket=first.bucket, stage=first.stage, learned_at=as_of
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[first_buckets.c.tenant_id],
            set_={"bucket": stmt.excluded.bucket, "stage": stmt.excluded.stage, "learned_at": as_of},
            where=first_buckets.c.learned_at <= stmt.excluded.learned_at,
        )
    )


def record_issued(session: Session, *, tenant: str, values: dict[str, Any], now: datetime) -> None:
    """Rule 2: the billed amount always; the open amount only if no allocation named the invoice yet.

    The same invoice issued twice: the first issue stands, as in reconciliation.
    """
    stmt = pg_insert(invoices).values(
        tenant_id=tenant, open_amount=values["amount"], status="open", updated_at=now, **values
    )
    filled = ("account_id", "currency", "amount", "issued_on", "due_on", "product_line")
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[invoices.c.tenant_id, invoices.c.invoice_id],
            set_={**{name: stmt.excluded[name] for name in filled}, "updated_at": now},
            where=invoices.c.amount.is_(None),  # only a row an allocation created is filled in
        )
    )


def record_dimensions(
    session: Session, *, tenant: str, account_id: str, currency: str, dims: dict[str, Any], now: datetime
) -> None:
    """ramo, asesor, oficina and agencia of (account, currency) follow its most recently issued invoice."""
    stmt = pg_insert(accounts).values(
        tenant_id=tenant, account_id=account_id, currency=currency, updated_at=now, **dims
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[accounts.c.tenant_id, accounts.c.account_id, accounts.c.currency],
            set_={**{name: stmt.excluded[name] for name in dims}, "updated_at": now},
            where=or_(
                accounts.c.last_issued_on.is_(None), accounts.c.last_issued_on <= stmt.excluded.last_issued_on
            ),
        )
    )


class InvoiceMismatch(LookupError):
    """The invoice is unknown for this tenant, or belongs to another account or currency."""


def _known(session: Session, tenant: str, invoice_id: str) -> Any:
    return session.execute(
        select(invoices.c.account_id, invoices.c.currency, invoices.c.amount, invoices.c.status).where(
            invoices.c.tenant_id == tenant, invoices.c.invoice_id == invoice_id
        )
    ).one_or_none()


def _check(row: Any, invoice_id: str, account_id: str, currency: str | None) -> None:
    if row is None or row.amount is None:
        raise InvoiceMismatch(f"data.invoice_id: unknown invoice {invoice_id!r} (issue it first)")
    if row.account_id != account_id:
        raise InvoiceMismatch(f"data.account_id: invoice {invoice_id!r} belongs to another account")
    if currency is not None and row.currency != currency:
        raise InvoiceMismatch(f"data.currency: invoice {invoice_id!r} is in {row.currency}, not {currency}")


def adjust_invoice(
    session: Session,
    *,
    tenant: str,
    invoice_id: str,
    account_id: str,
    currency: str,
    new_amount: Decimal,
    new_due_on: date | None,
    event_id: str,
    now: datetime,
) -> None:
    """Rule 3: what was settled stays settled; the open amount follows the new billed amount."""
    _check(_known(session, tenant, invoice_id), invoice_id, account_id, currency)
    kept = func.greatest(
        literal(Decimal(0)), literal(new_amount) - (invoices.c.amount - invoices.c.open_amount)
    )
    open_amount = case(
        (and_(invoices.c.open_cause.is_not(None), invoices.c.open_cause == event_id), invoices.c.open_amount),
        else_=kept,
    )
    session.execute(
        update(invoices)
        .where(
            invoices.c.tenant_id == tenant, invoices.c.invoice_id == invoice_id, invoices.c.status == "open"
        )
        .values(
            amount=new_amount,
            open_amount=open_amount,
            due_on=func.coalesce(literal(new_due_on), invoices.c.due_on),
            updated_at=now,
        )
    )


def cancel_invoice(session: Session, *, tenant: str, invoice_id: str, account_id: str, now: datetime) -> None:
    _check(_known(session, tenant, invoice_id), invoice_id, account_id, None)
    session.execute(
        update(invoices)
        .where(invoices.c.tenant_id == tenant, invoices.c.invoice_id == invoice_id)
        .values(status="cancelled", open_amount=Decimal(0), updated_at=now)
    )


def _rank(column: Any) -> Any:
    return case({state: state_rank(state) for state in PAYMENT_STATES}, value=column)


def place_payment(
    session: Session,
    *,
    tenant: str,
    payment_id: str,
    state: str,
    currency: str,
    account_id: str | None,
    now: datetime,
    suspense: dict[str, Any] | None = None,
) -> None:
    """Rule 5: a payment's place only moves forward (suspense → applied → reversed).

    ``suspense`` (amount, reason, received_on) is kept whenever it arrives, so a
    ``payment.unapplied`` that comes late still records what was parked.
    """
    parked = {
        "suspense_amount": (suspense or {}).get("amount"),
        "suspense_reason": (suspense or {}).get("reason"),
        "received_on": (suspense or {}).get("received_on"),
    }
    stmt = pg_insert(payment_states).values(
        tenant_id=tenant,
        payment_id=payment_id,
        state=state,
        account_id=account_id,
        currency=currency,
        updated_at=now,
        **parked,
    )
    advance = _rank(payment_states.c.state) <= _rank(stmt.excluded.state)
    t = payment_states.c
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[t.tenant_id, t.payment_id],
            set_={
                "state": case((advance, stmt.excluded.state), else_=t.state),
                "account_id": func.coalesce(stmt.excluded.account_id, t.account_id),
                "suspense_amount": func.coalesce(stmt.excluded.suspense_amount, t.suspense_amount),
                "suspense_reason": func.coalesce(stmt.excluded.suspense_reason, t.suspense_reason),
                "received_on": func.coalesce(stmt.excluded.received_on, t.received_on),
                "updated_at": stmt.excluded.updated_at,
            },
        )
    )
