"""Promises to pay (promesas de pago)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from libs.events.catalog import Topics
from libs.events.payloads.base import EventPayload
from libs.events.types import Amount, CurrencyCode, Identifier, PositiveAmount


class PromiseMade(EventPayload):
    """An input from an agent, the call center or the self-service portal."""

    event_type = "cobranza.promise.made"
    topic = Topics.PROMISES

    promise_id: Identifier
    account_id: Identifier
    amount: PositiveAmount
    currency: CurrencyCode
    due_on: date
    made_via: Literal["agent", "call_center", "portal", "ivr", "whatsapp", "email", "other"]
    agent_id: Identifier | None = None


class PromiseKept(EventPayload):
    event_type = "cobranza.promise.kept"
    topic = Topics.PROMISES

    promise_id: Identifier
    account_id: Identifier
    promised_amount: PositiveAmount
    paid_amount: Amount = Field(ge=0)
    currency: CurrencyCode
    due_on: date


class PromiseBroken(EventPayload):
    event_type = "cobranza.promise.broken"
    topic = Topics.PROMISES

    promise_id: Identifier
    account_id: Identifier
    promised_amount: PositiveAmount
    paid_amount: Amount = Field(ge=0)
    currency: CurrencyCode
    due_on: date
