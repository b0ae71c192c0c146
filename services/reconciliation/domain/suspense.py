"""Suspense: suggesting which account a payment belongs to, and placing it once the books can.

A payment waits in suspense while nobody knows whose it is: it named an account no invoice or
customer link ever mentioned, or its remittance names no invoice or policy (or several
accounts'). When an invoice or a customer link arrives, ``placements`` says which parked
payments now belong to an account and ``apply_parked`` matches them by the usual rules.

The candidate score is a weighted sum the operator can read: does an open invoice (or the
account's whole open balance) equal the amount, how close is the nearest due
date to the day the money arrived, and how alike are the payer's name on the
bank line and the customer's name on the invoices.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from rapidfuzz import fuzz, utils

from services.reconciliation.domain.matching import match_payment, resolve_account
from services.reconciliation.domain.model import (
    ZERO,
    Application,
    Candidate,
    IncomingPayment,
    InvoiceState,
    Tolerance,
)

AMOUNT_WEIGHT = 0.5
DATE_WEIGHT = 0.2
NAME_WEIGHT = 0.3
DATE_HORIZON_DAYS = 60


@dataclass(frozen=True)
class SuspenseLine:
    payment_id: str
    amount: Decimal
    currency: str
    received_on: date
    payer_name: str | None
    reference: str | None = None


def amount_score(amount: Decimal, invoices: Sequence[InvoiceState]) -> tuple[float, str | None]:
    """1 for an open invoice (or the open total) equal to the amount, less the further off it is."""
    if not invoices:
        return 0.0, None
    for invoice in invoices:
        if invoice.open_amount == amount:
            return 1.0, invoice.invoice_id
    total = sum((i.open_amount for i in invoices), ZERO)
    if total == amount:
        return 1.0, None
    closest = min(invoices, key=lambda i: abs(i.open_amount - amount))
    gap = abs(closest.open_amount - amount) / max(closest.open_amount, amount)
    return max(0.0, 1.0 - float(gap) * 2), closest.invoice_id


def date_score(received_on: date, invoices: Sequence[InvoiceState]) -> float:
    if not invoices:
        return 0.0
    nearest = min(abs((i.due_on - received_on).days) for i in invoices)
    return max(0.0, 1.0 - nearest / DATE_HORIZON_DAYS)


def name_score(payer_name: str | None, customer_name: str | None) -> float:
    if not payer_name or not customer_name:
        return 0.0
    return fuzz.token_sort_ratio(payer_name, customer_name, processor=utils.default_process) / 100.0


def candidates(
    line: SuspenseLine,
    open_invoices: Sequence[InvoiceState],
    customer_names: dict[str, str],
    limit: int = 10,
) -> list[Candidate]:
    """Accounts with open invoices in the payment's currency, best first."""
    by_account: dict[str, list[InvoiceState]] = {}
    for invoice in open_invoices:
        if invoice.currency == line.currency and invoice.is_open:
            by_account.setdefault(invoice.account_id, []).append(invoice)
    scored: list[Candidate] = []
    for account_id, invoices in by_account.items():
        a_score, invoice_id = amount_score(line.amount, invoices)
        d_score = date_score(line.received_on, invoices)
        n_score = name_score(line.payer_name, customer_names.get(account_id))
        reasons = []
        if a_score == 1.0:
            reasons.append(
                "amount matches" + (f" invoice {invoice_id}" if invoice_id else " the open balance")
            )
        if n_score >= 0.8:
            reasons.append("payer name similar to the customer's")
        if d_score >= 0.8:
            reasons.append("received close to a due date")
        scored.append(
            Candidate(
                account_id=account_id,
                customer_name=customer_names.get(account_id),
                score=round(AMOUNT_WEIGHT * a_score + DATE_WEIGHT * d_score + NAME_WEIGHT * n_score, 4),
                amount_score=round(a_score, 4),
                date_score=round(d_score, 4),
                name_score=round(n_score, 4),
                invoice_id=invoice_id,
                reasons=reasons,
            )
        )
    scored.sort(key=lambda c: (-c.score, c.account_id))
    return scored[:limit]


@dataclass(frozen=True)
class ParkedPayment:
    """A payment waiting in suspense, and the account it named (if it named one nobody knew)."""

    payment_id: str
    currency: str
    amount: Decimal
    received_on: date
    reference: str | None = None
    claimed_account_id: str | None = None


def placements(
    parked: Sequence[ParkedPayment],
    reference_invoices: Sequence[InvoiceState],
    reachable: Collection[str],
) -> list[tuple[ParkedPayment, str]]:
    """Which parked payments now belong to one of the ``reachable`` accounts, oldest payment first.

    A payment that named an account waits for that account and no other (the payer said whose
    it is); one that named none is placed by its remittance, with the same rules as when it
    arrived (``resolve_account`` over every invoice its reference names), so a reference that
    is still ambiguous stays in suspense.
    """
    placed: list[tuple[ParkedPayment, str]] = []
    for payment in sorted(parked, key=lambda p: (p.received_on, p.payment_id)):
        if payment.claimed_account_id is not None:
            account_id: str | None = payment.claimed_account_id
        else:
            account_id, _, _ = resolve_account(payment.reference, payment.currency, reference_invoices)
        if account_id is not None and account_id in reachable:
            placed.append((payment, account_id))
    return placed


def apply_parked(
    placed: Sequence[tuple[ParkedPayment, str]],
    invoices: Sequence[InvoiceState],
    tolerance_for: Callable[[str], Tolerance],
) -> list[Application]:
    """Match each placed payment in turn, against its account's invoices as the earlier ones left them."""
    state = {i.invoice_id: i for i in invoices}
    applications: list[Application] = []
    for payment, account_id in placed:
        incoming = IncomingPayment(
            payment.payment_id,
            account_id,
            payment.currency,
            payment.amount,
            payment.received_on,
            payment.reference,
        )
        mine = [i for i in state.values() if i.account_id == account_id]
        application = match_payment(incoming, mine, tolerance_for(payment.currency))
        for allocation in application.allocations:
            state[allocation.invoice_id] = replace(
                state[allocation.invoice_id], open_amount=allocation.open_after
            )
        applications.append(application)
    return applications
