"""The invoices of one batch, folded in delivery order (rules 1, 3 and 4 of ``money.py``).

The invoices topic changes an invoice's billed amount; reconciliation's allocations change
what is settled on it. Here the first: ``issue``, ``adjust`` and ``cancel`` take the book
of the batch's invoices (as stored, plus what earlier events of the batch did) and return
whether they changed it, so one write-back covers the batch.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

from services.reporting.domain.money import open_amount


class InvoiceMismatch(LookupError):
    """The invoice is unknown for this tenant, or belongs to another account or currency."""


class Invoice(NamedTuple):
    invoice_id: str
    account_id: str
    currency: str
    amount: Decimal | None
    """billed; None while only an allocation has named the invoice"""
    open_amount: Decimal
    open_as_of: datetime | None
    open_cause: str | None
    settled: Decimal | None
    """cash plus write-offs as of ``open_as_of``; None when that allocation did not say"""
    issued_on: date | None
    due_on: date | None
    product_line: str | None
    status: str
    updated_at: datetime


class Issue(NamedTuple):
    invoice_id: str
    account_id: str
    currency: str
    amount: Decimal
    issued_on: date
    due_on: date
    product_line: str


Book = dict[str, Invoice]
"""invoice id -> its state; an id absent from the book is unknown to the tenant."""


def issue(book: Book, new: Issue, now: datetime) -> bool:
    """Rule 3: the billed amount always; the open amount only if no allocation named the invoice yet."""
    held = book.get(new.invoice_id)
    if held is None:
        book[new.invoice_id] = Invoice(
            new.invoice_id,
            new.account_id,
            new.currency,
            new.amount,
            new.amount,
            None,
            None,
            None,
            new.issued_on,
            new.due_on,
            new.product_line,
            "open",
            now,
        )
        return True
    if held.amount is not None:
        return False  # issued before: the first issue stands
    book[new.invoice_id] = held._replace(
        account_id=new.account_id,
        currency=new.currency,
        amount=new.amount,
        open_amount=held.open_amount if held.settled is None else open_amount(new.amount, held.settled),
        issued_on=new.issued_on,
        due_on=new.due_on,
        product_line=new.product_line,
        updated_at=now,
    )
    return True


def _known(book: Book, invoice_id: str, account_id: str, currency: str | None) -> Invoice:
    held = book.get(invoice_id)
    if held is None or held.amount is None:
        raise InvoiceMismatch(f"data.invoice_id: unknown invoice {invoice_id!r} (issue it first)")
    if held.account_id != account_id:
        raise InvoiceMismatch(f"data.account_id: invoice {invoice_id!r} belongs to another account")
    if currency is not None and held.currency != currency:
        raise InvoiceMismatch(f"data.currency: invoice {invoice_id!r} is in {held.currency}, not {currency}")
    return held


def adjust(
    book: Book,
    *,
    invoice_id: str,
    account_id: str,
    currency: str,
    new_amount: Decimal,
    new_due_on: date | None,
    event_id: str,
    now: datetime,
) -> bool:
    """Rule 4: what was settled stays settled; the open amount follows the new billed amount."""
    held = _known(book, invoice_id, account_id, currency)
    if held.status != "open":
        return False
    assert held.amount is not None  # _known checked it
    if held.settled is not None:
        still_open = open_amount(new_amount, held.settled)
    elif held.open_cause is not None and held.open_cause == event_id:
        still_open = held.open_amount  # the allocation this adjustment caused already folded it in
    else:
        still_open = open_amount(new_amount, held.amount - held.open_amount)
    book[invoice_id] = held._replace(
        amount=new_amount,
        open_amount=still_open,
        due_on=new_due_on if new_due_on is not None else held.due_on,
        updated_at=now,
    )
    return True


def cancel(book: Book, *, invoice_id: str, account_id: str, now: datetime) -> bool:
    held = _known(book, invoice_id, account_id, None)
    book[invoice_id] = held._replace(status="cancelled", open_amount=Decimal(0), updated_at=now)
    return True
