"""Money received from debtors, and reversals of it."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import Field, model_validator

from libs.events.catalog import Topics
from libs.events.payloads.base import EventPayload
from libs.events.types import CurrencyCode, Identifier, PositiveAmount, Text
from libs.events.vocabulary import PAYMENT_METHODS, REVERSAL_REASONS, open_label

PaymentMethod = Annotated[
    str,
    Field(max_length=200, description=f"payment method: {PAYMENT_METHODS.describe()}"),
]
ReversalReason = Annotated[
    str,
    Field(
        min_length=1, max_length=200, description=f"why the money went back: {REVERSAL_REASONS.describe()}"
    ),
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
    method_detail: Text | None = Field(
        default=None, max_length=200, description="the label the core system or bank sent, when not canonical"
    )
    reference: Text | None = Field(default=None, max_length=300, description="an invoice id or free text")
    payer_name: Text | None = Field(default=None, max_length=300)

    @model_validator(mode="before")
    @classmethod
    def _open_method(cls, data: Any) -> Any:
        return open_label(data, "method", PAYMENT_METHODS, "method_detail")

    def subject(self) -> str | None:
        return self.account_id or f"unidentified:{self.payment_id}"


class PaymentReversed(EventPayload):
    """The bank or core system took the money back (bounced cheque, chargeback…)."""

    event_type = "cobranza.payment.reversed"
    topic = Topics.PAYMENTS

    payment_id: Identifier
    account_id: Identifier | None = None
    reversed_on: date
    reason: ReversalReason
    reason_detail: Text | None = Field(default=None, max_length=200)
    note: Text | None = Field(default=None, max_length=500)

    def subject(self) -> str | None:
        return self.account_id or f"unidentified:{self.payment_id}"

    @model_validator(mode="before")
    @classmethod
    def _open_reason(cls, data: Any) -> Any:
        return open_label(data, "reason", REVERSAL_REASONS, "reason_detail")
