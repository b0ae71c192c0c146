"""Promises to pay: when they fall due, and how payments count toward them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo


def promise_deadline(due_on: date, timezone: str, grace_days: int = 0) -> datetime:
    """The end of the due date (plus grace) in the debtor's zone: midnight starting the next day."""
    if grace_days < 0:
        raise ValueError("grace_days must not be negative")
    return datetime.combine(due_on + timedelta(days=grace_days + 1), time.min, tzinfo=ZoneInfo(timezone))


@dataclass(frozen=True)
class OpenPromise:
    promise_id: str
    amount: Decimal
    paid: Decimal
    made_on: date

    @property
    def outstanding(self) -> Decimal:
        return max(self.amount - self.paid, Decimal(0))


def apply_payment(
    promises: list[OpenPromise], amount: Decimal, received_on: date
) -> tuple[dict[str, Decimal], Decimal]:
    """Spread a payment over the open promises made on or before ``received_on``, oldest first.

    Returns the new paid amount per promise touched and what is left of the
    payment, which a promise made later (but not after the payment) may still use.
    """
    if amount < 0:
        raise ValueError("payment amount must not be negative")
    eligible = sorted(
        (p for p in promises if p.made_on <= received_on), key=lambda p: (p.made_on, p.promise_id)
    )
    updates: dict[str, Decimal] = {}
    remaining = amount
    for promise in eligible:
        take = min(remaining, promise.outstanding)
        if take <= 0:
            continue
        updates[promise.promise_id] = promise.paid + take
        remaining -= take
    return updates, remaining


def is_kept(amount: Decimal, paid: Decimal) -> bool:
    return paid >= amount
