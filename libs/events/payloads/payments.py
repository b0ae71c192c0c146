"""Money received from debtors, and reversals of it."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from libs.events.catalog import Topics
from libs.events.payloads.base import EventPayload
from libs.events.types import CurrencyCode, Identifier, PositiveAmount

PaymentMethod = Literal[
    "bank_transfer", "card", "cash", "cheque", "direct_debit", "pse", "wallet", "payroll", "other"
]


class PaymentReceived(EventPayload):
    """A payment as the core system or bank recorded it.

    ``account_id`` may be missing for bank statement lines nobody identified
    yet; reconciliation then parks the payment in suspense.
    """

    event_type = "cobranza.payment.received"
    topic = Topics.PAYMENTS

    payment_id: Identifier
    account_id: Identifier | None = None
    amount: PositiveAmount
    currency: CurrencyCode
    received_on: date
    method: PaymentMethod = "other"
    reference: str | None = Field(default=None, max_length=300, description="an invoice id or free text")
    payer_name: str | None = Field(default=None, max_length=300)

    def subject(self) -> str | None:
        return self.account_id or f"unidentified:{self.payment_id}"


ReversalReason = Literal["bounced_cheque", "chargeback", "bank_error", "duplicate", "other"]


class PaymentReversed(EventPayload):
    """The bank or core system took the money back (bounced cheque, chargeback…)."""

    event_type = "cobranza.payment.reversed"
    topic = Topics.PAYMENTS

    payment_id: Identifier
    account_id: Identifier | None = None
    reversed_on: date
    reason: ReversalReason
    note: str | None = Field(default=None, max_length=500)

    def subject(self) -> str | None:
        return self.account_id or f"unidentified:{self.payment_id}"
