"""Probability of payment: features from an account's own history, and the rule-based fallback.

Features are computed *as of* a date from the account's history, so the same
function serves live scoring (as of today) and training (as of a past snapshot,
seeing nothing after it). The label used for training is documented in
``docs/segmentation.md``: did any payment arrive in the 30 days after the snapshot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

FEATURES: tuple[str, ...] = (
    "on_time_ratio",
    "payments_count_log",
    "days_since_last_payment",
    "current_dpd",
    "max_dpd_seen",
    "broken_promises",
    "kept_promises",
    "tenure_months",
    "overdue_ratio",
    "balance_trend",
)
LABEL_WINDOW_DAYS = 30
NO_PAYMENT_DAYS = 365
"""``days_since_last_payment`` for an account that never paid (capped)."""


@dataclass(frozen=True)
class AgingPoint:
    on: date
    bucket: str
    days_past_due: int
    overdue: Decimal


@dataclass(frozen=True)
class PaymentPoint:
    on: date
    amount: Decimal
    on_time: bool


@dataclass
class AccountHistory:
    """Everything segmentation stored about one account, in date order."""

    account_id: str
    invoices: list[tuple[date, Decimal]] = field(default_factory=list)
    """(issued_on, amount) of invoices not cancelled."""
    payments: list[PaymentPoint] = field(default_factory=list)
    aging: list[AgingPoint] = field(default_factory=list)
    broken: list[date] = field(default_factory=list)
    kept: list[date] = field(default_factory=list)

    def first_issued_on(self) -> date | None:
        return min((d for d, _ in self.invoices), default=None)


def _aging_as_of(history: AccountHistory, as_of: date) -> AgingPoint | None:
    last = None
    for point in history.aging:
        if point.on <= as_of:
            last = point
        else:
            break
    return last


def _dpd(point: AgingPoint | None, as_of: date) -> int:
    if point is None or point.days_past_due <= 0:  # every scheme's first bucket is exactly 0 DPD
        return 0
    return point.days_past_due + (as_of - point.on).days


def features_as_of(history: AccountHistory, as_of: date) -> dict[str, float]:
    payments = [p for p in history.payments if p.on <= as_of]
    on_time = sum(1 for p in payments if p.on_time)
    billed = sum((a for d, a in history.invoices if d <= as_of), Decimal(0))
    now = _aging_as_of(history, as_of)
    before = _aging_as_of(history, as_of - timedelta(days=30))
    points = [p for p in history.aging if p.on <= as_of]
    first = history.first_issued_on()
    overdue_now = now.overdue if now else Decimal(0)
    overdue_before = before.overdue if before else Decimal(0)
    scale = billed if billed > 0 else Decimal(1)
    return {
        # Laplace-smoothed so a new account starts at 0.5 rather than 0 or 1
        "on_time_ratio": (on_time + 1) / (len(payments) + 2),
        "payments_count_log": math.log1p(len(payments)),
        "days_since_last_payment": float(
            min((as_of - payments[-1].on).days, NO_PAYMENT_DAYS) if payments else NO_PAYMENT_DAYS
        ),
        "current_dpd": float(min(_dpd(now, as_of), 720)),
        "max_dpd_seen": float(min(max((p.days_past_due for p in points), default=0), 720)),
        "broken_promises": float(sum(1 for d in history.broken if d <= as_of)),
        "kept_promises": float(sum(1 for d in history.kept if d <= as_of)),
        "tenure_months": max((as_of - first).days, 0) / 30.0 if first else 0.0,
        "overdue_ratio": float(min(overdue_now / scale, Decimal(5))),
        "balance_trend": float(max(min((overdue_now - overdue_before) / scale, Decimal(5)), Decimal(-5))),
    }


def paid_within(history: AccountHistory, snapshot: date, days: int = LABEL_WINDOW_DAYS) -> bool:
    """The training label: a payment arrived in (snapshot, snapshot + days]."""
    end = snapshot + timedelta(days=days)
    return any(snapshot < p.on <= end for p in history.payments)


def fallback_probability(features: dict[str, float]) -> float:
    """The score for a tenant without a trained model: a documented rule of thumb.

    Starts at 0.85 for an account that is up to date, and loses probability with
    days past due (0.4 % a day, up to 180 days), broken promises (10 points each,
    up to 3), a poor on-time ratio and a long time since the last payment.
    """
    p = 0.85
    p -= 0.004 * min(features["current_dpd"], 180.0)
    p -= 0.10 * min(features["broken_promises"], 3.0)
    p += 0.05 * min(features["kept_promises"], 2.0)
    p += 0.30 * (features["on_time_ratio"] - 0.5)
    if features["days_since_last_payment"] > 90:
        p -= 0.05
    return round(min(max(p, 0.02), 0.98), 4)
