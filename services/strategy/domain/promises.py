"""Promises to pay: when they fall due, which cash counts toward them, and what a reversal undoes.

Cash is what reconciliation applied to the account (``cobranza.payment.applied``), never a raw
``payment.received``: a transfer parked in suspense counts once it is matched, and a bounced
cheque (``cobranza.payment.reversal_applied``) takes back exactly what it gave.

Rules, in order:

1. Cash counts only toward promises in its own currency on the same account.
2. A payment counts toward a promise made on or before the payment's date, oldest promise first
   (``made_on``, then id), and a payment is used oldest first (date, arrival, id). What a payment
   does not use stays available to a promise made later on or before that date.
3. Cash counts only if reconciliation applied it before the promise's deadline (end of ``due_on``
   in the debtor's zone plus grace). Cash applied before the deadline but seen after the deadline
   timer broke the promise (consumer lag) still keeps it; cash applied later never does.
4. A promise is kept as soon as the cash reaches the promised amount; at the deadline a promise
   still short is broken. Partial fulfilment is recorded as the amount paid toward it.
5. A reversal removes its payment's contributions. A kept promise left short is open again while
   its deadline is ahead, broken once it is behind; open and broken promises only record less paid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

PromiseStatus = Literal["open", "kept", "broken"]
ZERO = Decimal(0)


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
    deadline: datetime

    @property
    def outstanding(self) -> Decimal:
        return max(self.amount - self.paid, ZERO)


@dataclass(frozen=True)
class AvailableCash:
    """The part of an applied payment no promise has used yet."""

    payment_id: str
    available: Decimal
    paid_on: date
    arrived_at: datetime


@dataclass(frozen=True)
class Settlement:
    contributions: Mapping[tuple[str, str], Decimal]
    """(promise id, payment id) -> amount newly counted toward the promise."""
    paid: Mapping[str, Decimal]
    """promise id -> its new paid amount (only promises that received cash)."""
    left: Mapping[str, Decimal]
    """payment id -> what is still available (only payments that gave cash)."""


def settle(promises: Iterable[OpenPromise], cash: Iterable[AvailableCash]) -> Settlement:
    """Count available cash toward open promises of one account and currency (rules 2 and 3)."""
    state = {p.promise_id: p for p in sorted(promises, key=lambda p: (p.made_on, p.promise_id))}
    contributions: dict[tuple[str, str], Decimal] = {}
    paid: dict[str, Decimal] = {}
    left: dict[str, Decimal] = {}
    for payment in sorted(cash, key=lambda c: (c.paid_on, c.arrived_at, c.payment_id)):
        if payment.available < 0:
            raise ValueError(f"payment {payment.payment_id}: available cash must not be negative")
        remaining = payment.available
        for promise in state.values():
            if remaining <= 0:
                break
            if promise.made_on > payment.paid_on or payment.arrived_at >= promise.deadline:
                continue
            take = min(remaining, promise.outstanding)
            if take <= 0:
                continue
            remaining -= take
            state[promise.promise_id] = OpenPromise(
                promise.promise_id, promise.amount, promise.paid + take, promise.made_on, promise.deadline
            )
            contributions[(promise.promise_id, payment.payment_id)] = take
            paid[promise.promise_id] = promise.paid + take
        if remaining != payment.available:
            left[payment.payment_id] = remaining
    return Settlement(contributions, paid, left)


def is_kept(amount: Decimal, paid: Decimal) -> bool:
    return paid >= amount


def status_after_reversal(
    status: PromiseStatus, amount: Decimal, paid: Decimal, deadline: datetime, now: datetime
) -> PromiseStatus:
    """Rule 5: what a promise becomes once a reversal left it with ``paid``."""
    if status != "kept" or is_kept(amount, paid):
        return status
    return "open" if now < deadline else "broken"
