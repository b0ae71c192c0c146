"""The values reconciliation reasons about: invoices as they stand, payments, credit lots, allocations.

Everything is per currency: an account's balance in COP and in USD are two
ledgers that never offset each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

Rule = Literal[
    "reference",
    "normalized_reference",
    "exact_amount",
    "oldest_first",
    "credit_balance",
    "manual",
    "tolerance",
]
ZERO = Decimal("0")


@dataclass(frozen=True)
class InvoiceState:
    invoice_id: str
    account_id: str
    currency: str
    amount: Decimal
    open_amount: Decimal
    due_on: date
    issued_on: date
    policy_number: str | None = None
    natural_id: str | None = None
    """The id the source system uses when ingest minted ``invoice_id`` as ``<source>:<id>``."""

    @property
    def is_open(self) -> bool:
        return self.open_amount > 0


@dataclass(frozen=True)
class IncomingPayment:
    payment_id: str
    account_id: str
    currency: str
    amount: Decimal
    received_on: date
    reference: str | None = None


@dataclass(frozen=True)
class Allocation:
    """Cash from ``payment_id`` applied to an invoice (plus an underpayment written off with it)."""

    payment_id: str
    invoice_id: str
    amount: Decimal
    open_after: Decimal
    written_off: Decimal = ZERO


@dataclass(frozen=True)
class CreditLot:
    """The unapplied rest of one payment, waiting for the account's next invoice in that currency."""

    payment_id: str
    currency: str
    amount: Decimal
    received_on: date


@dataclass(frozen=True)
class Application:
    """What to do with one payment: allocations, and what is left as credit."""

    payment_id: str
    account_id: str
    currency: str
    rule: Rule
    allocations: tuple[Allocation, ...]
    credit_created: Decimal
    matched_by: Rule | None = None

    @property
    def amount_applied(self) -> Decimal:
        return sum((a.amount for a in self.allocations), ZERO)

    @property
    def written_off(self) -> Decimal:
        return sum((a.written_off for a in self.allocations), ZERO)


@dataclass(frozen=True)
class CreditUse:
    """Part of a credit lot consumed by a newly issued invoice."""

    payment_id: str
    amount: Decimal
    lot_remaining: Decimal
    open_after: Decimal


@dataclass(frozen=True)
class Reopened:
    invoice_id: str
    amount: Decimal
    open_after: Decimal


@dataclass(frozen=True)
class Reversal:
    payment_id: str
    reopened: tuple[Reopened, ...]
    credit_removed: Decimal


@dataclass(frozen=True)
class Tolerance:
    """How much underpayment may be written off: both limits must hold (a missing one does not limit)."""

    absolute: Decimal | None = None
    ratio: Decimal | None = None

    def allows(self, shortfall: Decimal, invoice_amount: Decimal) -> bool:
        if shortfall <= 0:
            return False
        if self.absolute is None and self.ratio is None:
            return False
        if self.absolute is not None and shortfall > self.absolute:
            return False
        return not (self.ratio is not None and shortfall > invoice_amount * self.ratio)


NO_TOLERANCE = Tolerance()


@dataclass
class Candidate:
    """An account a suspense payment might belong to, with the score's parts for the operator."""

    account_id: str
    customer_name: str | None
    score: float
    amount_score: float
    date_score: float
    name_score: float
    invoice_id: str | None = None
    reasons: list[str] = field(default_factory=list)
