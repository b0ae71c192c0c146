"""Receivables published by core insurance and billing systems."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.events.catalog import Topics
from libs.events.payloads.base import EventPayload
from libs.events.types import (
    Amount,
    Channel,
    CountryCode,
    CurrencyCode,
    CustomerKind,
    Email,
    Identifier,
    PositiveAmount,
    Text,
    TimeZoneName,
)
from libs.events.vocabulary import ADJUSTMENT_REASONS, CANCELLATION_REASONS, open_label


class Customer(BaseModel):
    """The debtor as the invoice knows them; contact data is standardised by ingest."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    customer_id: Identifier
    name: Text = Field(min_length=1, max_length=300)
    kind: CustomerKind
    email: Email | None = None
    phone: Text | None = Field(default=None, max_length=40, description="E.164 once standardised by ingest")
    country: CountryCode
    timezone: TimeZoneName
    preferred_channels: list[Channel] | None = None
    region: Text | None = Field(
        default=None, max_length=100, description="state/department, for segmentation"
    )
    document_id: Text | None = Field(default=None, max_length=64, description="national id / NIT")


class InvoiceIssued(EventPayload):
    event_type = "cobranza.invoice.issued"
    topic = Topics.INVOICES

    invoice_id: Identifier
    natural_id: Identifier | None = Field(
        default=None,
        description="the id the source system uses, when ingest minted invoice_id as <source>:<id> because "
        "another source of the tenant already held it (remittance text names this one)",
    )
    account_id: Identifier
    customer: Customer
    amount: PositiveAmount
    currency: CurrencyCode
    issued_on: date
    due_on: date
    product_line: Identifier = Field(description="ramo: auto, vida, hogar, …")
    policy_number: Identifier | None = None
    advisor_id: Identifier | None = None
    office_id: Identifier | None = None
    agency_id: Identifier | None = None
    installment_number: int | None = Field(default=None, ge=1)
    description: Text | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _due_not_before_issue(self) -> InvoiceIssued:
        if self.due_on < self.issued_on:
            raise ValueError("due_on must not be before issued_on")
        return self


AdjustmentReason = Annotated[
    str,
    Field(
        min_length=1, max_length=200, description=f"why the amount changed: {ADJUSTMENT_REASONS.describe()}"
    ),
]


class InvoiceAdjusted(EventPayload):
    """The invoice's amount (and possibly due date) changed; ``new_amount`` is authoritative."""

    event_type = "cobranza.invoice.adjusted"
    topic = Topics.INVOICES

    adjustment_id: Identifier
    invoice_id: Identifier
    account_id: Identifier
    new_amount: Amount = Field(ge=0)
    currency: CurrencyCode
    reason: AdjustmentReason
    reason_detail: Text | None = Field(default=None, max_length=200)
    effective_on: date
    new_due_on: date | None = None
    note: Text | None = Field(default=None, max_length=500)

    @model_validator(mode="before")
    @classmethod
    def _open_reason(cls, data: Any) -> Any:
        return open_label(data, "reason", ADJUSTMENT_REASONS, "reason_detail")


CancellationReason = Annotated[
    str,
    Field(
        min_length=1, max_length=200, description=f"why it was cancelled: {CANCELLATION_REASONS.describe()}"
    ),
]


class InvoiceCancelled(EventPayload):
    event_type = "cobranza.invoice.cancelled"
    topic = Topics.INVOICES

    invoice_id: Identifier
    account_id: Identifier
    reason: CancellationReason
    reason_detail: Text | None = Field(default=None, max_length=200)
    cancelled_on: date
    note: Text | None = Field(default=None, max_length=500)

    @model_validator(mode="before")
    @classmethod
    def _open_reason(cls, data: Any) -> Any:
        return open_label(data, "reason", CANCELLATION_REASONS, "reason_detail")
