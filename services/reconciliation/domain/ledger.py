"""Credit balance, reversals and shrinking invoices: the rules that move money back.

A payment's money is always in exactly one of three places: allocated to
invoices, left as credit on its account, or parked in suspense. Reversing it
undoes all of that, including credit a later invoice already consumed (that
consumption is an allocation of the same payment, so it reopens too).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from services.reconciliation.domain.model import (
    ZERO,
    Allocation,
    CreditLot,
    CreditUse,
    InvoiceState,
    Reopened,
    Reversal,
)


def credit_balance(lots: Sequence[CreditLot], currency: str) -> Decimal:
    return sum((lot.amount for lot in lots if lot.currency == currency), ZERO)


def apply_credit(invoice: InvoiceState, lots: Sequence[CreditLot]) -> list[CreditUse]:
    """Consume the account's credit in the invoice's currency, oldest payment first."""
    usable = sorted(
        (lot for lot in lots if lot.currency == invoice.currency and lot.amount > 0),
        key=lambda lot: (lot.received_on, lot.payment_id),
    )
    open_amount = invoice.open_amount
    uses: list[CreditUse] = []
    for lot in usable:
        if open_amount <= 0:
            break
        take = min(lot.amount, open_amount)
        open_amount -= take
        uses.append(CreditUse(lot.payment_id, take, lot.amount - take, open_amount))
    return uses


def reverse(
    payment_id: str,
    allocations: Sequence[Allocation],
    invoices: Sequence[InvoiceState],
    lots: Sequence[CreditLot],
) -> Reversal:
    """Reopen every invoice the payment paid (cash and the write-off that went with it).

    ``allocations`` are the payment's live allocations; an invoice paid twice by the
    same payment (e.g. once directly, once through its credit) reopens once, by the sum.
    """
    by_id = {i.invoice_id: i for i in invoices}
    owed: dict[str, Decimal] = {}
    for a in allocations:
        if a.payment_id != payment_id:
            continue
        owed[a.invoice_id] = owed.get(a.invoice_id, ZERO) + a.amount + a.written_off
    reopened = []
    for invoice_id, amount in owed.items():
        invoice = by_id.get(invoice_id)
        current = invoice.open_amount if invoice is not None else ZERO
        ceiling = invoice.amount if invoice is not None else current + amount
        after = min(current + amount, ceiling)
        reopened.append(Reopened(invoice_id, amount, after))
    removed = sum((lot.amount for lot in lots if lot.payment_id == payment_id), ZERO)
    return Reversal(payment_id, tuple(reopened), removed)


def shrink(
    invoice: InvoiceState,
    new_amount: Decimal,
    allocations: Sequence[Allocation],
    ordering: Sequence[str] = (),
) -> tuple[Decimal, list[tuple[str, Decimal]]]:
    """An invoice's amount went down (credit note, cancellation): its new open amount and
    the cash freed from payments that now exceed it, latest payment first.

    ``ordering`` lists payment ids oldest first (by default the order of ``allocations``).
    Write-offs are released before any cash, since they were never money.
    """
    paid = sum((a.amount for a in allocations), ZERO)
    written_off = sum((a.written_off for a in allocations), ZERO)
    settled_by_cash = paid
    excess = paid - new_amount
    freed: list[tuple[str, Decimal]] = []
    if excess > 0:
        order = list(ordering) or [a.payment_id for a in allocations]
        per_payment: dict[str, Decimal] = {}
        for a in allocations:
            per_payment[a.payment_id] = per_payment.get(a.payment_id, ZERO) + a.amount
        for payment_id in reversed(list(dict.fromkeys(order))):
            if excess <= 0:
                break
            take = min(per_payment.get(payment_id, ZERO), excess)
            if take > 0:
                freed.append((payment_id, take))
                excess -= take
        settled_by_cash = new_amount
    open_after = max(new_amount - settled_by_cash - written_off, ZERO)
    return open_after, freed
