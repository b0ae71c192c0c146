"""Payment plans (acuerdos de pago): schedule, imputation of payments, late interest and its cap.

Pure: no I/O, Decimal only. The rules, in the order they apply:

1. **Schedule.** Line 0 is the down payment, due on ``agreed_on`` (only when it is > 0). Then
   ``instalments`` lines from ``first_due_on`` every 7 days (weekly), 14 days (biweekly) or one
   month (``first_due_on + relativedelta(months=k)``, always from the first date, so 31 Jan →
   28/29 Feb → 31 Mar). Amounts are rounded to the currency's ISO 4217 minor unit; the rounding
   remainder goes to the last line so the schedule sums exactly.
   Without ``financing_rate``: equal principal shares. With it (annual effective, E.A.): a fixed
   instalment (French amortisation, *cuota fija*) at the periodic equivalent rate
   ``(1+EA)^(1/12) - 1`` monthly, ``(1+EA)^(days/365) - 1`` for 7 or 14 days; each line carries
   its principal and its interest on the balance outstanding before it.
2. **Imputation** (Código Civil art. 1653: interest first). A payment first pays the late
   interest accrued until its date (oldest line first), then the oldest unpaid line, its
   financing interest before its principal. What each payment paid is recorded per line, so a
   reversal takes back exactly that and reopens those lines from the reversal date on.
3. **Late interest** on an overdue line's unpaid principal, for every day from the day after
   ``due_on`` until the day it is paid: **actual/365, compound-equivalent daily rate**
   ``(1+EA)^(1/365) - 1`` of the plan's ``late_interest_rate`` (default: the tenant's maximum),
   **capped** each day at the maximum rate in force that day (in Colombia the *tasa de usura*
   Superfinanciera certifies). A day no certified rate covers is charged at the plan's own rate
   (or nothing when the plan has none): a cap is never invented.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Literal

from dateutil.relativedelta import relativedelta

__all__ = [
    "DAY_COUNT",
    "LineState",
    "MaxRate",
    "Movement",
    "PlanState",
    "PlanTerms",
    "ScheduledLine",
    "daily_rate",
    "evaluate",
    "minor_unit",
    "periodic_rate",
    "schedule",
]

DAY_COUNT = "actual/365, compound-equivalent daily rate"

Frequency = Literal["weekly", "biweekly", "monthly"]

# ISO 4217 minor units that are not 2 (every other code has 2).
_MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI"),
        0,
    ),
    **dict.fromkeys(("VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    "CLF": 4,
    "UYW": 4,
}
_ZERO = Decimal(0)


def minor_unit(currency: str) -> Decimal:
    """The quantum of ``currency`` (``Decimal('0.01')`` for COP and USD, ``Decimal('1')`` for CLP)."""
    return Decimal(1).scaleb(-_MINOR_UNITS.get(currency.upper(), 2))


def _round(value: Decimal, quantum: Decimal) -> Decimal:
    return value.quantize(quantum, rounding=ROUND_HALF_EVEN)


def _power(base: Decimal, exponent: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 34
        return base**exponent


def periodic_rate(annual_effective: Decimal, frequency: Frequency) -> Decimal:
    """The rate per period equivalent to an annual effective rate."""
    exponent = {
        "monthly": Decimal(1) / Decimal(12),
        "weekly": Decimal(7) / Decimal(365),
        "biweekly": Decimal(14) / Decimal(365),
    }[frequency]
    return _power(Decimal(1) + annual_effective, exponent) - 1


def daily_rate(annual_effective: Decimal) -> Decimal:
    """Actual/365, compound-equivalent: ``(1+EA)^(1/365) - 1``."""
    return _power(Decimal(1) + annual_effective, Decimal(1) / Decimal(365)) - 1


@dataclass(frozen=True, slots=True)
class PlanTerms:
    plan_id: str
    account_id: str
    currency: str
    amount: Decimal
    down_payment: Decimal
    instalments: int
    frequency: Frequency
    first_due_on: date
    agreed_on: date
    financing_rate: Decimal | None = None
    late_interest_rate: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ScheduledLine:
    number: int
    due_on: date
    principal: Decimal
    interest: Decimal

    @property
    def amount_due(self) -> Decimal:
        return self.principal + self.interest


def _due_dates(terms: PlanTerms) -> list[date]:
    first = terms.first_due_on
    if terms.frequency == "monthly":
        return [first + relativedelta(months=k) for k in range(terms.instalments)]
    step = 7 if terms.frequency == "weekly" else 14
    return [first + timedelta(days=step * k) for k in range(terms.instalments)]


def schedule(terms: PlanTerms) -> list[ScheduledLine]:
    """The plan's lines (rule 1): they sum exactly to ``amount`` plus the financing interest."""
    quantum = minor_unit(terms.currency)
    lines: list[ScheduledLine] = []
    if terms.down_payment > 0:
        lines.append(ScheduledLine(0, terms.agreed_on, _round(terms.down_payment, quantum), _ZERO))
    financed = _round(terms.amount, quantum) - _round(terms.down_payment, quantum)
    dates = _due_dates(terms)
    n = terms.instalments
    if not terms.financing_rate:
        share = _round(financed / n, quantum)
        for k, due in enumerate(dates, start=1):
            principal = share if k < n else financed - share * (n - 1)
            lines.append(ScheduledLine(k, due, principal, _ZERO))
        return lines
    rate = periodic_rate(terms.financing_rate, terms.frequency)
    with localcontext() as ctx:
        ctx.prec = 34
        cuota = _round(financed * rate / (1 - (1 + rate) ** -n), quantum)
    balance = financed
    for k, due in enumerate(dates, start=1):
        interest = _round(balance * rate, quantum)
        principal = cuota - interest if k < n else balance
        lines.append(ScheduledLine(k, due, principal, interest))
        balance -= principal
    return lines


@dataclass(frozen=True, slots=True)
class MaxRate:
    """A maximum annual effective rate in force from ``valid_from`` to ``valid_to`` (inclusive)."""

    valid_from: date
    valid_to: date
    rate: Decimal
    resolution: str | None = None


@dataclass(frozen=True, slots=True)
class Movement:
    """A payment applied to the plan's account and currency (``amount`` > 0) or its reversal."""

    payment_id: str
    on: date
    amount: Decimal
    reversal: bool = False


@dataclass(slots=True)
class LineState:
    line: ScheduledLine
    paid_principal: Decimal = _ZERO
    paid_interest: Decimal = _ZERO
    late_accrued: Decimal = _ZERO  # exact, rounded only when shown or imputed
    late_paid: Decimal = _ZERO
    late_days: int = 0
    paid_on: date | None = None
    rate_applied: Decimal | None = None
    capped: bool = False

    @property
    def paid(self) -> Decimal:
        return self.paid_principal + self.paid_interest

    @property
    def unpaid(self) -> Decimal:
        return self.line.amount_due - self.paid

    @property
    def unpaid_principal(self) -> Decimal:
        return self.line.principal - self.paid_principal


@dataclass(slots=True)
class PlanState:
    terms: PlanTerms
    lines: list[LineState]
    as_of: date
    paid_by: dict[str, list[tuple[int, str, Decimal]]] = field(default_factory=dict)
    unimputed: Decimal = _ZERO  # paid beyond the plan (left for the account, not the plan)

    def money(self, value: Decimal) -> Decimal:
        """``value`` in the currency's minor unit (what events and the API show)."""
        return _round(value, minor_unit(self.terms.currency))

    def late_interest(self, line: LineState) -> Decimal:
        quantum = minor_unit(self.terms.currency)
        return max(_round(line.late_accrued, quantum) - line.late_paid, _ZERO)

    @property
    def outstanding(self) -> Decimal:
        return self.money(sum((line.unpaid for line in self.lines), _ZERO))

    @property
    def late_interest_due(self) -> Decimal:
        return self.money(sum((self.late_interest(line) for line in self.lines), _ZERO))

    @property
    def late_interest_paid(self) -> Decimal:
        return self.money(sum((line.late_paid for line in self.lines), _ZERO))

    @property
    def amount_paid(self) -> Decimal:
        return self.money(sum((line.paid for line in self.lines), _ZERO))

    @property
    def settled(self) -> bool:
        return self.outstanding == 0 and self.late_interest_due == 0

    def line(self, number: int) -> LineState:
        return next(state for state in self.lines if state.line.number == number)


def _rate_on(day: date, plan_rate: Decimal | None, caps: Sequence[MaxRate]) -> tuple[Decimal, bool]:
    cap = next((c.rate for c in caps if c.valid_from <= day <= c.valid_to), None)
    if cap is None:
        return (plan_rate or _ZERO), False
    if plan_rate is None:
        return cap, False
    return (cap, True) if plan_rate > cap else (plan_rate, False)


def _accrue(state: PlanState, start: date, end: date, caps: Sequence[MaxRate]) -> None:
    """Late interest for the days ``start`` < day <= ``end`` on every overdue line."""
    plan_rate = state.terms.late_interest_rate
    daily: dict[Decimal, Decimal] = {}
    for line in state.lines:
        if line.unpaid_principal <= 0:
            continue
        day = max(start, line.line.due_on) + timedelta(days=1)
        while day <= end:
            rate, capped = _rate_on(day, plan_rate, caps)
            per_day = daily.setdefault(rate, daily_rate(rate))
            line.late_accrued += line.unpaid_principal * per_day
            line.late_days += 1
            line.rate_applied = rate
            line.capped = line.capped or capped
            day += timedelta(days=1)


def _impute(state: PlanState, payment_id: str, on: date, amount: Decimal) -> None:
    left = amount
    paid: list[tuple[int, str, Decimal]] = []
    for line in state.lines:  # late interest first (art. 1653)
        take = min(left, state.late_interest(line))
        if take > 0:
            line.late_paid += take
            left -= take
            paid.append((line.line.number, "late_interest", take))
    for line in state.lines:
        if left <= 0:
            break
        take = min(left, line.line.interest - line.paid_interest)
        if take > 0:
            line.paid_interest += take
            left -= take
            paid.append((line.line.number, "interest", take))
        take = min(left, line.unpaid_principal)
        if take > 0:
            line.paid_principal += take
            left -= take
            paid.append((line.line.number, "principal", take))
        if line.unpaid == 0 and line.paid_on is None:
            line.paid_on = on
    state.unimputed += left
    state.paid_by[payment_id] = paid


def _take_back(state: PlanState, payment_id: str) -> None:
    for number, part, amount in state.paid_by.pop(payment_id, []):
        line = state.line(number)
        if part == "late_interest":
            line.late_paid -= amount
        elif part == "interest":
            line.paid_interest -= amount
        else:
            line.paid_principal -= amount
        if line.unpaid > 0:
            line.paid_on = None


def evaluate(
    terms: PlanTerms,
    movements: Iterable[Movement],
    caps: Sequence[MaxRate],
    as_of: date,
) -> PlanState:
    """The plan as of the end of ``as_of``: movements in date order (a day's in the order given),
    late interest accrued day by day between them (rules 2 and 3)."""
    state = PlanState(terms, [LineState(line) for line in schedule(terms)], as_of)
    ordered = sorted(
        (m for m in movements if m.on <= as_of and m.on >= terms.agreed_on),
        key=lambda m: m.on,  # stable: a day's movements stay in the order they arrived
    )
    accrued_to = terms.agreed_on
    for movement in ordered:
        # a payment on day D stops the accrual from D on: the day itself is not charged
        _accrue(state, accrued_to, movement.on - timedelta(days=1), caps)
        accrued_to = max(accrued_to, movement.on - timedelta(days=1))
        if movement.reversal:
            _take_back(state, movement.payment_id)
        elif movement.payment_id not in state.paid_by:
            _impute(state, movement.payment_id, movement.on, movement.amount)
    _accrue(state, accrued_to, as_of, caps)
    return state
