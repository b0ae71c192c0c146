"""Contact tasks decided by strategy and their delivery outcomes from notifier."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from libs.events.catalog import Topics
from libs.events.payloads.base import EventPayload
from libs.events.types import Channel, Identifier, Label, Text


class ContactDue(EventPayload):
    event_type = "cobranza.contact.due"
    topic = Topics.CONTACTS

    contact_id: Identifier
    account_id: Identifier
    channel: Channel
    scheduled_for: AwareDatetime
    strategy: Label
    step: Label
    template: Label
    language: Text = Field(default="es", min_length=2, max_length=16)
    strategy_version: int | None = Field(
        default=None, ge=1, description="the version of the strategy that planned the contact"
    )


ContactStatus = Literal["sent", "delivered", "read", "answered", "no_answer", "failed", "bounced", "rejected"]


class ContactOutcome(EventPayload):
    event_type = "cobranza.contact.outcome"
    topic = Topics.CONTACTS

    contact_id: Identifier
    account_id: Identifier
    channel: Channel
    status: ContactStatus
    occurred_at: AwareDatetime
    provider: Label | None = None
    detail: Text | None = Field(default=None, max_length=1000)


class ContactOptedOut(EventPayload):
    """The debtor withdrew consent for a channel (a STOP reply, an unsubscribe link, a request).

    Effective at once: strategy uses the channel again only after a new recorded consent.
    ``source`` is an open label: ``stop_reply``, ``unsubscribe``, ``agent``, ``debtor_request``, …
    """

    event_type = "cobranza.contact.opted_out"
    topic = Topics.CONTACTS

    account_id: Identifier
    channel: Channel
    occurred_at: AwareDatetime
    source: Label = "debtor_request"
    contact_id: Identifier | None = Field(default=None, description="the contact the reply answered")
    customer_id: Identifier | None = None
