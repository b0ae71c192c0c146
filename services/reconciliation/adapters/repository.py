"""Loading an account's books under lock and writing back what the domain decided."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from services.reconciliation.adapters.orm import accounts, allocations, credits, invoices, payments
from services.reconciliation.domain.matching import reference_keys
from services.reconciliation.domain.model import (
    ZERO,
    Allocation,
    Application,
    CreditLot,
    CreditUse,
    InvoiceState,
)


def to_invoice(row: Row[Any]) -> InvoiceState:
    return InvoiceState(
        invoice_id=row.invoice_id,
        account_id=row.account_id,
        currency=row.currency,
        amount=row.amount,
        open_amount=row.open_amount,
        due_on=row.due_on,
        issued_on=row.issued_on,
        policy_number=row.policy_number,
    )


def lock_account(
    session: Session,
    account_id: str,
    now: datetime,
    *,
    customer_id: str | None = None,
    customer_name: str | None = None,
) -> None:
    """Create the account row if needed and take its lock for the rest of the transaction."""
    values: dict[str, Any] = {"account_id": account_id, "updated_at": now}
    stmt = pg_insert(accounts).values(**values, customer_id=customer_id, customer_name=customer_name)
    if customer_name is not None:
        stmt = stmt.on_conflict_do_update(
            index_elements=["account_id"],
            set_={"customer_id": customer_id, "customer_name": customer_name, "updated_at": now},
        )
    else:
        stmt = stmt.on_conflict_do_nothing()
    session.execute(stmt)
    session.execute(
        select(accounts.c.account_id).where(accounts.c.account_id == account_id).with_for_update()
    )


def account_invoices(session: Session, account_id: str, *, currency: str | None = None) -> list[InvoiceState]:
    query = select(invoices).where(invoices.c.account_id == account_id, invoices.c.status != "cancelled")
    if currency is not None:
        query = query.where(invoices.c.currency == currency)
    rows = session.execute(query.order_by(invoices.c.due_on, invoices.c.invoice_id).with_for_update()).all()
    return [to_invoice(r) for r in rows]


def account_credit(session: Session, account_id: str, currency: str) -> list[CreditLot]:
    rows = session.execute(
        select(credits)
        .where(credits.c.account_id == account_id, credits.c.currency == currency, credits.c.amount > 0)
        .with_for_update()
    ).all()
    return [CreditLot(r.payment_id, r.currency, r.amount, r.received_on) for r in rows]


def credit_total(session: Session, account_id: str, currency: str) -> Decimal:
    total = session.execute(
        select(func.coalesce(func.sum(credits.c.amount), 0)).where(
            credits.c.account_id == account_id, credits.c.currency == currency
        )
    ).scalar_one()
    return Decimal(total)


def invoices_by_reference(session: Session, reference: str) -> list[InvoiceState]:
    """Non-cancelled invoices whose id equals the reference or whose (normalised) id/policy matches it."""
    keys = reference_keys(reference)
    conditions = [invoices.c.invoice_id == reference.strip()]
    if keys:
        conditions += [invoices.c.reference_key.in_(keys), invoices.c.policy_key.in_(keys)]
    rows = session.execute(select(invoices).where(or_(*conditions), invoices.c.status != "cancelled")).all()
    return [to_invoice(r) for r in rows]


def set_open_amount(session: Session, invoice_id: str, open_after: Decimal, now: datetime) -> None:
    session.execute(
        update(invoices)
        .where(invoices.c.invoice_id == invoice_id, invoices.c.status != "cancelled")
        .values(open_amount=open_after, status="open" if open_after > 0 else "paid", updated_at=now)
    )


def record_allocations(
    session: Session,
    account_id: str,
    currency: str,
    rule: str,
    items: Sequence[Allocation],
    applied_on: date,
    now: datetime,
) -> None:
    for a in items:
        session.execute(
            allocations.insert().values(
                payment_id=a.payment_id,
                invoice_id=a.invoice_id,
                account_id=account_id,
                currency=currency,
                amount=a.amount,
                written_off=a.written_off,
                rule=rule,
                applied_on=applied_on,
                created_at=now,
            )
        )
        set_open_amount(session, a.invoice_id, a.open_after, now)


def add_credit(
    session: Session,
    payment_id: str,
    account_id: str,
    currency: str,
    amount: Decimal,
    received_on: date,
    now: datetime,
) -> None:
    if amount <= 0:
        return
    stmt = pg_insert(credits).values(
        payment_id=payment_id,
        account_id=account_id,
        currency=currency,
        amount=amount,
        received_on=received_on,
        updated_at=now,
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["payment_id"],
            set_={"amount": credits.c.amount + stmt.excluded.amount, "updated_at": now},
        )
    )


def persist_application(session: Session, application: Application, received_on: date, now: datetime) -> None:
    record_allocations(
        session,
        application.account_id,
        application.currency,
        application.rule,
        application.allocations,
        received_on,
        now,
    )
    add_credit(
        session,
        application.payment_id,
        application.account_id,
        application.currency,
        application.credit_created,
        received_on,
        now,
    )


def consume_credit(
    session: Session,
    invoice: InvoiceState,
    uses: Sequence[CreditUse],
    applied_on: date,
    now: datetime,
) -> None:
    for use in uses:
        session.execute(
            update(credits)
            .where(credits.c.payment_id == use.payment_id)
            .values(amount=use.lot_remaining, updated_at=now)
        )
        record_allocations(
            session,
            invoice.account_id,
            invoice.currency,
            "credit_balance",
            [Allocation(use.payment_id, invoice.invoice_id, use.amount, use.open_after)],
            applied_on,
            now,
        )


def live_allocations(
    session: Session, *, payment_id: str | None = None, invoice_id: str | None = None
) -> list[Allocation]:
    query = select(allocations).where(allocations.c.reversed.is_(False))
    if payment_id is not None:
        query = query.where(allocations.c.payment_id == payment_id)
    if invoice_id is not None:
        query = query.where(allocations.c.invoice_id == invoice_id)
    rows = session.execute(query.order_by(allocations.c.id)).all()
    return [Allocation(r.payment_id, r.invoice_id, r.amount, ZERO, r.written_off) for r in rows]


def mark_reversed(session: Session, payment_id: str) -> None:
    session.execute(
        update(allocations)
        .where(and_(allocations.c.payment_id == payment_id, allocations.c.reversed.is_(False)))
        .values(reversed=True)
    )
    session.execute(update(credits).where(credits.c.payment_id == payment_id).values(amount=ZERO))


def payment_row(session: Session, payment_id: str, *, lock: bool = False) -> Row[Any] | None:
    query = select(payments).where(payments.c.payment_id == payment_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).first()


def release_allocations(
    session: Session, invoice_id: str, freed: Sequence[tuple[str, Decimal]], now: datetime
) -> None:
    """Take cash back from an invoice that shrank: newest allocation rows of each payment first."""
    for payment_id, amount in freed:
        remaining = amount
        rows = session.execute(
            select(allocations.c.id, allocations.c.amount)
            .where(
                allocations.c.invoice_id == invoice_id,
                allocations.c.payment_id == payment_id,
                allocations.c.reversed.is_(False),
            )
            .order_by(allocations.c.id.desc())
            .with_for_update()
        ).all()
        for row in rows:
            if remaining <= 0:
                break
            take = min(row.amount, remaining)
            remaining -= take
            session.execute(
                update(allocations).where(allocations.c.id == row.id).values(amount=row.amount - take)
            )


def clear_write_offs(session: Session, invoice_id: str) -> None:
    session.execute(
        update(allocations)
        .where(allocations.c.invoice_id == invoice_id, allocations.c.reversed.is_(False))
        .values(written_off=ZERO)
    )
