"""What core systems send ingest (REST bodies, file rows), before it becomes a contract event.

These models are looser than the contracts where ingest can fill the gap (a customer's
country and time zone come from the phone number when missing); ``to_contract`` does the
standardisation and raises ``StandardisationError`` with the field path when it cannot.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from libs.events.payloads.customers import ContactPoint, CustomerUpserted
from libs.events.payloads.invoices import AdjustmentReason, CancellationReason, Customer, InvoiceIssued
from libs.events.payloads.payments import ReversalReason
from libs.events.types import (
    Channel,
    CountryCode,
    CurrencyCode,
    CustomerKind,
    Identifier,
    NonNegativeAmount,
    PositiveAmount,
    Text,
    TimeZoneName,
)
from services.ingest.domain.standardise import (
    Contact,
    StandardisationError,
    normalise_document,
    normalise_email,
    normalise_phone,
    standardise_contact,
)

Email = Annotated[Text, StringConstraints(min_length=3, max_length=320)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class CustomerIn(_In):
    """The debtor on an invoice; ``country``/``timezone`` may be left for ingest to derive."""

    customer_id: Identifier
    name: Text = Field(min_length=1, max_length=300)
    kind: CustomerKind = "person"
    email: Email | None = None
    phone: Text | None = Field(default=None, max_length=40)
    country: CountryCode | None = None
    timezone: TimeZoneName | None = None
    preferred_channels: list[Channel] | None = None
    region: Text | None = Field(default=None, max_length=100)
    document_id: Text | None = Field(default=None, max_length=64)

    def key(self) -> tuple[Any, ...]:
        """Every field, in declaration order: two equal debtors standardise to the same contract customer."""
        values = self.__dict__
        return tuple(tuple(v) if isinstance(v, list) else v for v in (values[f] for f in _CUSTOMER_FIELDS))

    def standardised(self, prefix: str = "customer.") -> Customer:
        """The contract's debtor, raising with a field path when impossible. A batch standardises
        each distinct debtor once, and a debtor seen before is read back from ``ingest.debtors``
        (``service_layer/debtors.py``), not standardised again."""
        return standard_customer(self.key(), prefix)


_CUSTOMER_FIELDS = tuple(CustomerIn.model_fields)


def standard_customer(key: tuple[Any, ...], prefix: str = "customer.") -> Customer:
    """``CustomerIn.standardised`` of the debtor whose ``key()`` is ``key``.

    The contract validates every field but the e-mail, which is set afterwards: ``normalise_email``
    already ran the very check the contract's ``EmailStr`` runs (``email_validator.validate_email``
    without DNS, keeping ``.normalized``), ~100 µs a new address; running it twice per debtor was a
    fifth of the bulk endpoint.
    """
    debtor = dict(zip(_CUSTOMER_FIELDS, key, strict=True))
    contact = standardise_contact(
        Contact(
            country=debtor["country"],
            timezone=debtor["timezone"],
            phone=debtor["phone"],
            email=debtor["email"],
        ),
        prefix=prefix,
    )
    channels = debtor["preferred_channels"]
    customer = Customer(
        customer_id=debtor["customer_id"],
        name=debtor["name"],
        kind=debtor["kind"],
        email=None,
        phone=contact.phone,
        country=contact.country or "",
        timezone=contact.timezone or "",
        preferred_channels=list(channels) if channels is not None else None,
        region=debtor["region"],
        document_id=normalise_document(debtor["document_id"]),
    )
    return customer if contact.email is None else customer.model_copy(update={"email": contact.email})


class InvoiceIn(_In):
    invoice_id: Identifier
    account_id: Identifier
    customer: CustomerIn
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

    @field_validator("due_on")
    @classmethod
    def _due_not_before_issue(cls, due_on: date, info: ValidationInfo) -> date:
        issued_on = info.data.get("issued_on")
        if issued_on is not None and due_on < issued_on:
            raise ValueError("due_on must not be before issued_on")
        return due_on

    def to_contract(self, customer_id: str | None = None) -> InvoiceIssued:
        """``customer_id``: the canonical id when the customer was linked to another source's."""
        customer = self.customer.standardised()
        if customer_id is not None and customer_id != customer.customer_id:
            customer = customer.model_copy(update={"customer_id": customer_id})
        return self.with_customer(customer)

    def with_customer(self, customer: Customer) -> InvoiceIssued:
        """The contract with ``customer`` (already standardised and validated) as its debtor, built
        without validating again: every field but ``customer`` is the contract's own type with the
        contract's constraints (``Identifier``, ``PositiveAmount``, ``CurrencyCode``, the same
        ``installment_number >= 1`` and lengths), stripped the same way, and ``_due_not_before_issue``
        is the contract's ``due_on >= issued_on`` check. ~12 µs an invoice less;
        ``tests/unit/ingest/test_contract_shapes.py`` holds it equal to ``InvoiceIssued.model_validate``."""
        values = dict(self.__dict__)
        values["customer"] = customer
        return InvoiceIssued.model_construct(**values)


class AdjustmentIn(_In):
    """A credit note or an endorsement's premium change; ``new_amount`` is the invoice's new total."""

    adjustment_id: Identifier
    new_amount: NonNegativeAmount
    currency: CurrencyCode | None = Field(default=None, description="defaults to the invoice's")
    reason: AdjustmentReason
    reason_detail: Text | None = Field(default=None, max_length=200)
    effective_on: date
    new_due_on: date | None = None
    note: Text | None = Field(default=None, max_length=500)
    account_id: Identifier | None = Field(default=None, description="defaults to the invoice's")


class CancellationIn(_In):
    reason: CancellationReason
    reason_detail: Text | None = Field(default=None, max_length=200)
    cancelled_on: date
    note: Text | None = Field(default=None, max_length=500)
    account_id: Identifier | None = Field(default=None, description="defaults to the invoice's")


class ReversalIn(_In):
    reversed_on: date
    reason: ReversalReason
    reason_detail: Text | None = Field(default=None, max_length=200)
    note: Text | None = Field(default=None, max_length=500)
    account_id: Identifier | None = Field(default=None, description="defaults to the payment's")


class ContactPointIn(_In):
    channel: Channel
    value: Text = Field(min_length=1, max_length=320)
    consent: bool
    consent_updated_at: datetime | None = None
    primary: bool = False


_PHONE_CHANNELS = {"sms", "whatsapp", "voice"}


class CustomerUpsertIn(_In):
    """PUT /v1/customers/{id}: the whole customer as one source system knows it."""

    name: Text = Field(min_length=1, max_length=300)
    kind: CustomerKind = "person"
    document_id: Text | None = Field(default=None, max_length=64)
    email: Email | None = None
    phone: Text | None = Field(default=None, max_length=40)
    country: CountryCode | None = None
    timezone: TimeZoneName | None = None
    region: Text | None = Field(default=None, max_length=100)
    address: Text | None = Field(default=None, max_length=500)
    preferred_channels: list[Channel] | None = None
    account_ids: list[Identifier] = Field(default_factory=list)
    contact_points: list[ContactPointIn] = Field(default_factory=list)

    def to_contract(
        self,
        customer_id: str,
        *,
        linked_customer_ids: list[str] | None = None,
        link_rule: str | None = None,
    ) -> CustomerUpserted:
        phone = self.phone
        if phone is None:  # the primary phone contact point stands in for a missing phone
            phone = next((p.value for p in self.contact_points if p.channel in _PHONE_CHANNELS), None)
        contact = standardise_contact(
            Contact(country=self.country, timezone=self.timezone, phone=phone, email=self.email)
        )
        points = [self._standard_point(i, p, contact.country) for i, p in enumerate(self.contact_points)]
        return CustomerUpserted.model_validate(
            {
                **self.model_dump(exclude={"contact_points", "phone", "email", "country", "timezone"}),
                "customer_id": customer_id,
                "document_id": normalise_document(self.document_id),
                "email": contact.email,
                "phone": contact.phone,
                "country": contact.country,
                "timezone": contact.timezone,
                "contact_points": points,
                "linked_customer_ids": linked_customer_ids or [],
                "link_rule": link_rule,
            }
        )

    @staticmethod
    def _standard_point(index: int, point: ContactPointIn, country: str | None) -> ContactPoint:
        field = f"contact_points.{index}.value"
        value = point.value
        if point.channel in _PHONE_CHANNELS:
            value, _ = normalise_phone(value, country, field=field)
        elif point.channel == "email":
            value = normalise_email(value, field=field)
        return ContactPoint(**{**point.model_dump(), "value": value})


class CustomerItemIn(CustomerUpsertIn):
    """One item of POST /v1/customers/bulk: the PUT body plus the source system's customer id."""

    customer_id: Identifier


__all__ = [
    "AdjustmentIn",
    "CancellationIn",
    "ContactPointIn",
    "CustomerIn",
    "CustomerItemIn",
    "CustomerUpsertIn",
    "InvoiceIn",
    "ReversalIn",
    "StandardisationError",
]
