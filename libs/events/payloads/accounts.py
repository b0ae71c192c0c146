"""Delinquency state of accounts, owned by aging."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from libs.events.catalog import Topics
from libs.events.payloads.base import EventPayload
from libs.events.types import Amount, CurrencyCode, Identifier, Label


class AccountAged(EventPayload):
    """Emitted only when an account's delinquency bucket changes, in either direction."""

    event_type = "cobranza.account.aged"
    topic = Topics.ACCOUNTS

    account_id: Identifier
    bucket: Label = Field(
        description="current, dpd_1_30, dpd_31_60, dpd_61_90, dpd_91_180, dpd_181_360, dpd_361_plus"
    )
    days_past_due: int = Field(ge=0)
    overdue_amount: Amount = Field(ge=0)
    currency: CurrencyCode
    previous_bucket: Label | None = None
    stage: Label | None = Field(
        default=None,
        description="the bucket's stage in the tenant's scheme: current (cured, whatever the bucket's name), "
        "early, late, residual; consumers tolerate stages they do not know",
    )
    previous_stage: Label | None = None


class PolicyLapseScheduled(EventPayload):
    """An invoice of a policy became overdue: the policy lapses on ``lapse_on`` unless it is paid."""

    event_type = "cobranza.policy.lapse_scheduled"
    topic = Topics.ACCOUNTS

    policy_number: Identifier
    account_id: Identifier
    invoice_id: Identifier
    due_on: date
    lapse_on: date = Field(description="due_on + the product line's grace days, in the debtor's calendar")
    grace_days: int = Field(ge=0)
    product_line: Identifier
    open_amount: Amount = Field(ge=0)
    currency: CurrencyCode


class PolicyLapsed(EventPayload):
    """The grace period ran out at the debtor's local midnight of ``lapse_on`` with the premium unpaid."""

    event_type = "cobranza.policy.lapsed"
    topic = Topics.ACCOUNTS

    policy_number: Identifier
    account_id: Identifier
    invoice_id: Identifier
    lapse_on: date
    open_amount: Amount = Field(ge=0)
    currency: CurrencyCode


class PolicyLapseCancelled(EventPayload):
    """A scheduled lapse will not happen: the invoice was paid, cancelled or is no longer overdue."""

    event_type = "cobranza.policy.lapse_cancelled"
    topic = Topics.ACCOUNTS

    policy_number: Identifier
    account_id: Identifier
    invoice_id: Identifier
    lapse_on: date
    reason: Literal["paid", "invoice_cancelled", "not_overdue"]
