"""How reporting folds reconciliation's money events into balances, in any delivery order.

Reconciliation owns money truth (docs/architecture.md); reporting only *sets*
what it announces, so a redelivered or reordered event never counts twice:

1. An invoice's open amount is the ``invoice_open_amount_after`` of the latest
   allocation (``payment.applied``) or reopening (``payment.reversal_applied``)
   that names it. "Latest" is the event time; on a tie the later delivery wins,
   since one account's allocations share a topic key and arrive in order. An older
   event delivered late never overwrites a newer state.
2. ``invoice.issued`` gives the billed amount and, only while no allocation has
   named the invoice, the open amount (= billed). Reconciliation never allocates
   to an invoice before it has seen it issued, so an allocation always wins.
3. ``invoice.adjusted`` keeps what was settled: open = max(0, new - (billed - open)),
   unless the stored open amount came from an allocation this very adjustment
   caused (reconciliation already folded it in). ``invoice.cancelled`` closes it.
4. The credit balance of (account, currency) is the latest ``credit_balance_after``.
5. A payment's place is reconciliation's last word on it, ranked
   suspense < applied < reversed (a payment leaves suspense once, and a reversal is
   final), so a ``payment.unapplied`` delivered after its ``payment.applied`` does not
   put it back in suspense.
6. Balance = open amount - credit, never floored: a negative balance is credit.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

PAYMENT_STATES = ("suspense", "applied", "reversed")
"""Reconciliation's places for a payment, in the order it can move through them."""


def state_rank(state: str) -> int:
    return PAYMENT_STATES.index(state)


def last_open_amount_per_invoice(changes: Iterable[tuple[str, Decimal]]) -> dict[str, Decimal]:
    """One event may name an invoice twice (a payment paying it directly and through its credit):
    the last mention is the invoice's state after the whole event."""
    latest: dict[str, Decimal] = {}
    for invoice_id, open_after in changes:
        latest.pop(invoice_id, None)
        latest[invoice_id] = open_after
    return latest
