"""How reporting folds reconciliation's money events into balances, in any delivery order.

Reconciliation owns money truth (docs/architecture.md); reporting only *sets*
what it announces, so a redelivered or reordered event never counts twice:

1. An invoice's billed ``amount`` comes from the invoices topic (``invoice.issued``,
   then ``invoice.adjusted``); what is *settled* on it (cash plus write-offs) from the
   latest allocation (``payment.applied``) or reopening (``payment.reversal_applied``)
   that names it: its ``invoice_settled_after``. Open = max(amount - settled, 0), so
   an adjustment and an allocation give the same open amount in either arrival order.
   "Latest" is the event time; on a tie the later delivery wins, since one account's
   allocations share a topic key and arrive in order. An older event delivered late
   never overwrites a newer state.
2. An allocation from before ``invoice_settled_after`` existed sets the open amount to
   its ``invoice_open_amount_after`` (and forgets any settled amount), as does any
   allocation that reaches reporting before its invoice (no billed amount yet).
3. ``invoice.issued`` gives the billed amount and, while no allocation has named the
   invoice, the open amount (= billed). The same invoice issued twice: the first stands.
4. ``invoice.adjusted`` changes the billed amount: open = max(amount - settled, 0) when
   the settled amount is known; else (older allocations) what was settled stays settled,
   open = max(0, new - (billed - open)), unless the stored open amount came from an
   allocation this very adjustment caused (reconciliation already folded it in).
   ``invoice.cancelled`` closes the invoice.
5. The credit balance of (account, currency) is the latest ``credit_balance_after``.
6. A payment's place is reconciliation's last word on it, ranked
   suspense < applied < reversed (a payment leaves suspense once, and a reversal is
   final), so a ``payment.unapplied`` delivered after its ``payment.applied`` does not
   put it back in suspense.
7. Balance = open amount - credit, never floored: a negative balance is credit.

A batch of events folds to what applying them one at a time would leave: ``latest`` picks,
per key, the state the newest event sets; the SQL keeps the same "not older than what is
stored" guard against what an earlier batch left.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

PAYMENT_STATES = ("suspense", "applied", "reversed")
"""Reconciliation's places for a payment, in the order it can move through them."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def state_rank(state: str) -> int:
    return PAYMENT_STATES.index(state)


def open_amount(amount: Decimal, settled: Decimal) -> Decimal:
    """Rule 1: what is still owed on a billed amount once ``settled`` has been settled."""
    return max(amount - settled, Decimal(0))


def last_mention_per_invoice(changes: Iterable[tuple[str, V]]) -> dict[str, V]:
    """One event may name an invoice twice (a payment paying it directly and through its credit):
    the last mention is the invoice's state after the whole event."""
    latest: dict[str, V] = {}
    for invoice_id, change in changes:
        latest.pop(invoice_id, None)
        latest[invoice_id] = change
    return latest


def latest(changes: Iterable[tuple[K, datetime, V]]) -> dict[K, tuple[datetime, V]]:
    """Per key, the change with the newest time; on a tie the later one (delivery order) wins.

    What setting each change in turn "unless the stored one is newer" leaves behind.
    """
    newest: dict[K, tuple[datetime, V]] = {}
    for key, as_of, value in changes:
        held = newest.get(key)
        if held is None or held[0] <= as_of:
            newest[key] = (as_of, value)
    return newest
