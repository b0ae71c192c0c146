"""What reconciliation decided about each payment: applied, parked in suspense, reversed.

Every allocation carries ``invoice_open_amount_after`` so a consumer (aging,
strategy, reporting) can *set* an invoice's open amount idempotently instead of
subtracting deltas that a redelivery would apply twice.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.events.catalog import Topics
from libs.events.payloads.base import EventPayload
from libs.events.types import CurrencyCode, Identifier, NonNegativeAmount, PositiveAmount, Text

ApplicationRule = Literal[
    "reference",
    "normalized_reference",
    "exact_amount",
    "oldest_first",
    "credit_balance",
    "manual",
    "tolerance",
]


class InvoiceAllocation(BaseModel):
    """Part of a payment applied to one invoice, and what the invoice still owes afterwards."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    invoice_id: Identifier
    amount: NonNegativeAmount = Field(description="cash applied to the invoice")
    invoice_open_amount_after: NonNegativeAmount
    written_off: NonNegativeAmount = Field(
        default=Decimal("0"), description="underpayment closed within tolerance (not cash)"
    )
    invoice_settled_after: NonNegativeAmount | None = Field(
        default=None,
        description="everything settled on the invoice so far (cash plus write-offs): a consumer that keeps "
        "the invoice's amount from the invoices topic computes open = max(amount - settled, 0) whatever order "
        "adjustments and allocations arrive in",
    )


class PaymentApplied(EventPayload):
    """A payment (or the credit balance it left) was applied to an account's invoices."""

    event_type = "cobranza.payment.applied"
    topic = Topics.ALLOCATIONS

    payment_id: Identifier
    account_id: Identifier
    currency: CurrencyCode
    amount_applied: NonNegativeAmount = Field(description="sum of the allocations' amounts")
    allocations: list[InvoiceAllocation]
    credit_created: NonNegativeAmount = Field(
        default=Decimal("0"), description="the part of the payment left as credit balance"
    )
    credit_balance_after: NonNegativeAmount = Field(description="the account's credit in this currency")
    rule: ApplicationRule
    matched_by: ApplicationRule | None = Field(
        default=None, description="the matching rule when ``rule`` is tolerance (a write-off happened)"
    )
    applied_on: date
    written_off: NonNegativeAmount | None = None


UnappliedReason = Literal["unidentified_account", "ambiguous_reference"]


class PaymentUnapplied(EventPayload):
    """A payment no account could be found for; it waits in the suspense queue."""

    event_type = "cobranza.payment.unapplied"
    topic = Topics.ALLOCATIONS

    payment_id: Identifier
    account_id: Identifier | None = None
    amount: PositiveAmount
    currency: CurrencyCode
    reason: UnappliedReason
    received_on: date

    def subject(self) -> str | None:
        return self.account_id or f"unidentified:{self.payment_id}"


class ReopenedInvoice(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    invoice_id: Identifier
    amount: NonNegativeAmount = Field(description="amount owed again (cash plus any write-off undone)")
    invoice_open_amount_after: NonNegativeAmount
    invoice_settled_after: NonNegativeAmount | None = Field(
        default=None,
        description="everything still settled on the invoice after the reversal (see InvoiceAllocation)",
    )


class PaymentReversalApplied(EventPayload):
    """A reversed payment's allocations were undone: invoices reopened, its credit removed."""

    event_type = "cobranza.payment.reversal_applied"
    topic = Topics.ALLOCATIONS

    payment_id: Identifier
    account_id: Identifier | None = Field(default=None, description="missing for a payment still in suspense")
    currency: CurrencyCode
    reopened: list[ReopenedInvoice]
    credit_removed: NonNegativeAmount = Decimal("0")
    credit_balance_after: NonNegativeAmount
    reversed_on: date
    reason: Text = Field(min_length=1, max_length=100)

    def subject(self) -> str | None:
        return self.account_id or f"unidentified:{self.payment_id}"
