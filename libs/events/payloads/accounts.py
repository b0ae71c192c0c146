"""Delinquency state of accounts, owned by aging."""

from __future__ import annotations

from pydantic import Field

from libs.events.catalog import Topics
from libs.events.payloads.base import EventPayload
from libs.events.types import Amount, CurrencyCode, Identifier


class AccountAged(EventPayload):
    """Emitted only when an account's delinquency bucket changes, in either direction."""

    event_type = "cobranza.account.aged"
    topic = Topics.ACCOUNTS

    account_id: Identifier
    bucket: str = Field(
        description="current, dpd_1_30, dpd_31_60, dpd_61_90, dpd_91_180, dpd_181_360, dpd_361_plus"
    )
    days_past_due: int = Field(ge=0)
    overdue_amount: Amount = Field(ge=0)
    currency: CurrencyCode
    previous_bucket: str | None = None
