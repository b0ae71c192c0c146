"""Receivables published by core insurance and billing systems."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from libs.events.catalog import Topics
from libs.events.payloads.base import EventPayload
from libs.events.types import (
    Amount,
    Channel,
    CountryCode,
    CurrencyCode,
    CustomerKind,
    Identifier,
    PositiveAmount,
    TimeZoneName,
)


class Customer(BaseModel):
    """The debtor as the invoice knows them; contact data is standardised by ingest."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    customer_id: Identifier
    name: str = Field(min_length=1, max_length=300)
    kind: CustomerKind
    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=40, description="E.164 once standardised by ingest")
    country: CountryCode
    timezone: TimeZoneName
    preferred_channels: list[Channel] | None = None
    region: str | None = Field(default=None, max_length=100, description="state/department, for segmentation")
    document_id: str | None = Field(default=None, max_length=64, description="national id / NIT")


class InvoiceIssued(EventPayload):
    event_type = "cobranza.invoice.issued"
    topic = Topics.INVOICES

    invoice_id: Identifier
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
    description: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _due_not_before_issue(self) -> InvoiceIssued:
        if self.due_on < self.issued_on:
            raise ValueError("due_on must not be before issued_on")
        return self


AdjustmentReason = Literal["credit_note", "endorsement", "premium_change", "correction", "discount", "other"]


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
    effective_on: date
    new_due_on: date | None = None
    note: str | None = Field(default=None, max_length=500)


CancellationReason = Literal["policy_cancelled", "issued_in_error", "written_off", "other"]


class InvoiceCancelled(EventPayload):
    event_type = "cobranza.invoice.cancelled"
    topic = Topics.INVOICES

    invoice_id: Identifier
    account_id: Identifier
    reason: CancellationReason
    cancelled_on: date
    note: str | None = Field(default=None, max_length=500)
