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
