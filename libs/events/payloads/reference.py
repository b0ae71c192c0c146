"""Reference data other services look up: product lines (ramos), offices, advisors, agencies."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from libs.events.catalog import Topics
from libs.events.payloads.base import EventPayload
from libs.events.types import Amount, CountryCode, Identifier, Text

ReferenceEntity = Literal["product_line", "office", "advisor", "agency"]


class ReferenceUpserted(EventPayload):
    """The latest state of one reference entity (the topic is compacted by ``entity_type:entity_id``).

    Hierarchy: an advisor belongs to an office (``office_id``) and may work for an agency
    (``agency_id``); an agency (intermediary) may belong to a parent agency (``parent_id``) and
    carries its commission rate; an office may belong to a regional office (``parent_id``).
    """

    event_type = "cobranza.reference.upserted"
    topic = Topics.REFERENCE

    entity_type: ReferenceEntity
    entity_id: Identifier
    name: Text = Field(min_length=1, max_length=300)
    active: bool = True
    parent_id: Identifier | None = Field(default=None, description="parent office / parent agency")
    office_id: Identifier | None = Field(default=None, description="advisor: the office they belong to")
    agency_id: Identifier | None = Field(default=None, description="advisor: the agency they work for")
    commission_rate: Amount | None = Field(
        default=None, ge=0, le=1, description="agency: commission as a fraction (0.12 = 12 %)"
    )
    region: Text | None = Field(default=None, max_length=100)
    country: CountryCode | None = None
    email: Text | None = Field(default=None, max_length=320)

    def subject(self) -> str | None:
        return f"{self.entity_type}:{self.entity_id}"
