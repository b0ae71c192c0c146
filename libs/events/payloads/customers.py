"""Customers and their contact points, standardised by ingest."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from libs.events.catalog import Topics
from libs.events.payloads.base import EventPayload
from libs.events.types import Channel, CountryCode, CustomerKind, Email, Identifier, Label, Text, TimeZoneName


class ContactPoint(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    channel: Channel
    value: Text = Field(min_length=1, max_length=320, description="E.164 phone, e-mail or postal address")
    consent: bool = Field(description="the debtor agreed to be contacted on this channel")
    consent_updated_at: datetime | None = None
    primary: bool = False


class CustomerUpserted(EventPayload):
    event_type = "cobranza.customer.upserted"
    topic = Topics.CUSTOMERS

    customer_id: Identifier
    account_ids: list[Identifier] = Field(default_factory=list)
    name: Text = Field(min_length=1, max_length=300)
    kind: CustomerKind
    document_id: Text | None = Field(default=None, max_length=64)
    email: Email | None = None
    phone: Text | None = Field(default=None, max_length=40)
    country: CountryCode
    timezone: TimeZoneName
    region: Text | None = Field(default=None, max_length=100)
    address: Text | None = Field(default=None, max_length=500)
    preferred_channels: list[Channel] | None = None
    contact_points: list[ContactPoint] = Field(default_factory=list)
    linked_customer_ids: list[Identifier] = Field(
        default_factory=list, description="the same person/company known under other source systems' ids"
    )
    link_rule: Literal["document_id", "email", "phone", "manual"] | None = None

    def subject(self) -> str | None:
        """The customers topic is compacted by customer: the latest record per customer id wins."""
        return self.customer_id


class CustomerErased(EventPayload):
    """Erase a customer's personal data everywhere (habeas data, Ley 1581 de 2012; GDPR art. 17).

    Every service that keeps the customer's name, document, e-mail, phone, address or contact
    points removes or anonymises them; money and delinquency facts stay, under the same ids.
    Keyed by customer id like ``customer.upserted``, so compaction keeps this record last.
    """

    event_type = "cobranza.customer.erased"
    topic = Topics.CUSTOMERS

    customer_id: Identifier
    account_ids: list[Identifier] = Field(default_factory=list)
    requested_at: AwareDatetime
    legal_basis: Label = "habeas_data"

    def subject(self) -> str | None:
        return self.customer_id
