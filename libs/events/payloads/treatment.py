"""Treatment of an account beyond contacts: collection pauses and payment plans (acuerdos de pago).

Pauses and plans arrive from core systems (the inbound topic) or from agents through strategy's
API; strategy announces what becomes of a plan. They share the promises topic, keyed by account,
so an account's promises, pauses and plans stay in order on one partition.

Rates are **annual effective rates as fractions** (``0.2862`` is 28.62 % E.A., the way
Superfinanciera certifies the usury rate); strategy converts them to the period it charges.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, PlainSerializer, model_validator

from libs.events.catalog import Topics
from libs.events.payloads.base import EventPayload
from libs.events.types import (
    CurrencyCode,
    Identifier,
    NonNegativeAmount,
    PositiveAmount,
    Text,
)


def _rate(value: Decimal) -> Decimal:
    if not value.is_finite() or value < 0 or value > 10:
        raise ValueError("a rate is an annual effective fraction between 0 and 10 (0.25 = 25 % E.A.)")
    if value != value.quantize(Decimal("0.00000001")):
        raise ValueError("a rate has at most 8 decimal places")
    return value


AnnualRate = Annotated[
    Decimal,
    AfterValidator(_rate),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
]
"""An annual effective rate as a fraction (``0.2862`` = 28.62 % E.A.), sent as a decimal string."""

PauseReason = Literal["hardship", "dispute", "legal_hold", "deceased", "bankruptcy", "other"]
PlanFrequency = Literal["weekly", "biweekly", "monthly"]


class CollectionPaused(EventPayload):
    """No contact and no escalation for the account until ``until`` (inclusive) or a resume.

    ``deceased`` and ``bankruptcy`` never end by themselves: ``until`` is ignored for them.
    """

    event_type = "cobranza.collection.paused"
    topic = Topics.PROMISES

    account_id: Identifier
    reason: PauseReason
    until: date | None = Field(default=None, description="last paused day, in the debtor's local date")
    note: Text | None = Field(default=None, max_length=1000)
    agent_id: Identifier | None = Field(default=None, description="who paused it, when a person did")


class CollectionResumed(EventPayload):
    event_type = "cobranza.collection.resumed"
    topic = Topics.PROMISES

    account_id: Identifier
    note: Text | None = Field(default=None, max_length=1000)
    agent_id: Identifier | None = None


class PlanAgreed(EventPayload):
    """A debt restructured into instalments: ``amount`` (down payment included) over ``instalments``."""

    event_type = "cobranza.plan.agreed"
    topic = Topics.PROMISES

    plan_id: Identifier
    account_id: Identifier
    currency: CurrencyCode
    amount: PositiveAmount = Field(description="the debt the plan settles, down payment included")
    down_payment: NonNegativeAmount = Decimal(0)
    instalments: int = Field(ge=1, le=600)
    frequency: PlanFrequency
    first_due_on: date
    agreed_on: date
    financing_rate: AnnualRate | None = Field(
        default=None, description="annual effective rate the instalments carry (none: interest-free)"
    )
    late_interest_rate: AnnualRate | None = Field(
        default=None,
        description="annual effective rate charged on overdue instalments, capped at the tenant's maximum",
    )
    agent_id: Identifier | None = None

    @model_validator(mode="after")
    def _down_payment_below_amount(self) -> PlanAgreed:
        if self.down_payment >= self.amount:
            raise ValueError("down_payment must be less than amount")
        if self.first_due_on < self.agreed_on:
            raise ValueError("first_due_on must not be before agreed_on")
        return self


class PlanInstalmentMissed(EventPayload):
    """An instalment's due date ended (debtor's zone) without it being paid in full."""

    event_type = "cobranza.plan.instalment_missed"
    topic = Topics.PROMISES

    plan_id: Identifier
    account_id: Identifier
    currency: CurrencyCode
    instalment: int = Field(ge=0, description="1-based instalment number; 0 is the down payment")
    due_on: date
    amount_due: PositiveAmount
    amount_paid: NonNegativeAmount
    outstanding: PositiveAmount


class PlanBroken(EventPayload):
    """An instalment stayed unpaid past the tenant's grace: collection resumes, with escalation."""

    event_type = "cobranza.plan.broken"
    topic = Topics.PROMISES

    plan_id: Identifier
    account_id: Identifier
    currency: CurrencyCode
    instalment: int = Field(ge=0, description="the first instalment left unpaid past grace")
    due_on: date
    grace_days: int = Field(ge=0)
    broken_on: date
    outstanding: NonNegativeAmount = Field(description="principal still owed on the plan")
    late_interest: NonNegativeAmount = Field(description="late interest accrued and unpaid")


class PlanCompleted(EventPayload):
    event_type = "cobranza.plan.completed"
    topic = Topics.PROMISES

    plan_id: Identifier
    account_id: Identifier
    currency: CurrencyCode
    amount_paid: PositiveAmount
    late_interest_paid: NonNegativeAmount = Decimal(0)
    completed_on: date
