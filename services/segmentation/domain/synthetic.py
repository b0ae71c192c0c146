"""A synthetic but realistic insurance portfolio history, for training benchmarks and tests.

Not real data. Each policyholder has a latent reliability (most pay on time, a
minority pays late or stops); some suffer a hardship shock mid-way. Monthly
premiums fall due on the 15th; payments settle the oldest installments first;
aging points are recorded when the delinquency bucket changes, exactly as
aging reports them; a promise is made when an account reaches 31 days past due
and is kept if a payment arrives within 10 days.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from services.segmentation.domain.scoring import AccountHistory, AgingPoint, PaymentPoint

PRODUCT_LINES = ("autos", "vida", "hogar", "salud", "soat", "pyme")
REGIONS = ("Bogotá D.C.", "Antioquia", "Valle del Cauca", "Atlántico", "Santander", "Bolívar")


def bucket_for(dpd: int) -> str:
    if dpd <= 0:
        return "current"
    for limit, name in ((30, "dpd_1_30"), (60, "dpd_31_60"), (90, "dpd_61_90"), (180, "dpd_91_180")):
        if dpd <= limit:
            return name
    return "dpd_181_360" if dpd <= 360 else "dpd_361_plus"


@dataclass(frozen=True)
class SyntheticAccount:
    history: AccountHistory
    customer_kind: str
    product_line: str
    region: str
    premium: Decimal
    due_dates: tuple[tuple[date, Decimal], ...]


def _month_day(start: date, months: int, day: int) -> date:
    y, m = divmod(start.month - 1 + months, 12)
    return date(start.year + y, m + 1, day)


def generate_account(rng: random.Random, account_id: str, start: date, end: date) -> SyntheticAccount:
    kind = "company" if rng.random() < 0.2 else "person"
    base = 2_500_000 if kind == "company" else 280_000
    premium = Decimal(int(base * rng.lognormvariate(0, 0.5))).quantize(Decimal(1))
    profile = rng.random()
    if profile < 0.6:
        reliability = rng.betavariate(8, 2)
    elif profile < 0.85:
        reliability = rng.betavariate(3, 3)
    else:
        reliability = rng.betavariate(1, 5)
    shock_at = _month_day(start, rng.randrange(3, 18), 1) if rng.random() < 0.2 else None
    joined = rng.randrange(0, 6)

    invoices: list[tuple[date, Decimal, date]] = []
    payments_on: dict[date, str] = {}
    month = joined
    while (issued := _month_day(start, month, 1)) <= end:
        due = _month_day(start, month, 15)
        invoices.append((issued, premium, due))
        r = reliability * (0.3 if shock_at and issued >= shock_at else 1.0)
        roll = rng.random()
        if roll < r:
            payments_on.setdefault(due - timedelta(days=rng.randrange(0, 12)), "all")
        elif roll < r + (1 - r) * 0.45:
            payments_on.setdefault(due + timedelta(days=rng.randrange(5, 50)), "oldest")
        month += 1

    history = AccountHistory(account_id=account_id, invoices=[(i, a) for i, a, _ in invoices])
    unpaid: list[tuple[date, Decimal]] = []
    next_invoice = 0
    bucket = "current"
    promise_due: date | None = None
    promise_made: date | None = None
    day = invoices[0][0] if invoices else end
    while day <= end:
        while next_invoice < len(invoices) and invoices[next_invoice][0] <= day:
            unpaid.append((invoices[next_invoice][2], invoices[next_invoice][1]))
            next_invoice += 1
        kind_of_payment = payments_on.get(day)
        if kind_of_payment and unpaid:
            take = unpaid if kind_of_payment == "all" else unpaid[:1]
            amount = sum((a for _, a in take), Decimal(0))
            history.payments.append(PaymentPoint(day, amount, on_time=bucket == "current"))
            unpaid = [] if kind_of_payment == "all" else unpaid[1:]
        oldest_due = min((d for d, _ in unpaid if d < day), default=None)
        dpd = (day - oldest_due).days if oldest_due else 0
        new_bucket = bucket_for(dpd)
        if new_bucket != bucket:
            overdue = sum((a for d, a in unpaid if d < day), Decimal(0))
            history.aging.append(AgingPoint(day, new_bucket, dpd, overdue))
            if new_bucket == "dpd_31_60" and promise_due is None and rng.random() < 0.5:
                promise_made, promise_due = day, day + timedelta(days=10)
            bucket = new_bucket
        if promise_due is not None and day >= promise_due:
            paid = any(promise_made is not None and promise_made < p.on <= day for p in history.payments)
            (history.kept if paid else history.broken).append(day)
            promise_due = promise_made = None
        day += timedelta(days=1)
    return SyntheticAccount(
        history=history,
        customer_kind=kind,
        product_line=rng.choice(PRODUCT_LINES),
        region=rng.choice(REGIONS),
        premium=premium,
        due_dates=tuple((d, a) for _, a, d in invoices),
    )


def generate_portfolio(n_accounts: int, start: date, end: date, seed: int = 7) -> list[SyntheticAccount]:
    rng = random.Random(seed)
    return [generate_account(rng, f"SYN-{i:06d}", start, end) for i in range(n_accounts)]
