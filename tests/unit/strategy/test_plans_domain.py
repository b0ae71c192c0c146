"""Payment plans: schedule, imputation, late interest and the usury cap against hand-computed tables."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from services.strategy.domain.plans import (
    MaxRate,
    Movement,
    PlanTerms,
    daily_rate,
    evaluate,
    minor_unit,
    schedule,
)


def _terms(**over: object) -> PlanTerms:
    base: dict[str, object] = dict(
        plan_id="p1",
        account_id="a1",
        currency="USD",
        amount=D("1000.00"),
        down_payment=D("100.00"),
        instalments=3,
        frequency="monthly",
        first_due_on=date(2026, 1, 31),
        agreed_on=date(2026, 1, 10),
    )
    base.update(over)
    return PlanTerms(**base)  # type: ignore[arg-type]


def test_minor_units() -> None:
    assert minor_unit("COP") == D("0.01")
    assert minor_unit("CLP") == D("1")
    assert minor_unit("KWD") == D("0.001")


def test_interest_free_schedule_month_end_safe() -> None:
    # down payment 100.00 on agreed_on; (1000 - 100) / 3 = 300.00 each;
    # 31 Jan + 1 month = 28 Feb, + 2 months = 31 Mar (from the first date, not chained)
    lines = schedule(_terms())
    assert [(x.number, x.due_on, x.principal, x.interest) for x in lines] == [
        (0, date(2026, 1, 10), D("100.00"), D(0)),
        (1, date(2026, 1, 31), D("300.00"), D(0)),
        (2, date(2026, 2, 28), D("300.00"), D(0)),
        (3, date(2026, 3, 31), D("300.00"), D(0)),
    ]


def test_rounding_remainder_goes_to_the_last_line() -> None:
    # 1000.00 / 3 = 333.333… → 333.33, 333.33 and the rest 333.34; CLP has no decimals: 1000 / 3
    lines = schedule(_terms(down_payment=D(0), frequency="weekly"))
    assert [x.principal for x in lines] == [D("333.33"), D("333.33"), D("333.34")]
    assert [x.due_on for x in lines] == [date(2026, 1, 31), date(2026, 2, 7), date(2026, 2, 14)]
    clp = schedule(_terms(currency="CLP", amount=D(1000), down_payment=D(0)))
    assert [x.principal for x in clp] == [D(333), D(333), D(334)]
    assert sum(x.principal for x in clp) == D(1000)


def test_french_amortisation_hand_computed() -> None:
    # EA 12.682503 % → monthly (1.12682503)^(1/12) - 1 ≈ 0.01 (1 % a month)
    # cuota = 1000 * 0.01 / (1 - 1.01^-3) = 340.0221… → 340.02
    # line 1: interest 1000.00 * 1 % = 10.00, principal 340.02 - 10.00 = 330.02, balance 669.98
    # line 2: interest 669.98 * 1 % = 6.6998 → 6.70, principal 333.32, balance 336.66
    # line 3: interest 336.66 * 1 % = 3.3666 → 3.37, principal = the balance 336.66 (340.03 due)
    lines = schedule(_terms(down_payment=D(0), financing_rate=D("0.12682503")))
    assert [(x.principal, x.interest, x.amount_due) for x in lines] == [
        (D("330.02"), D("10.00"), D("340.02")),
        (D("333.32"), D("6.70"), D("340.02")),
        (D("336.66"), D("3.37"), D("340.03")),
    ]
    assert sum(x.principal for x in lines) == D("1000.00")


def test_late_interest_capped_at_usury_rate() -> None:
    # plan charges 30 % E.A. late; the cap in force is 25 % E.A.: daily (1.25)^(1/365) - 1
    # = 0.000611539109…; line 1 (300.00, due 31 Jan) unpaid until paid on 11 Feb: days 1..10 Feb
    # are late (10 days): 300 * 10 * 0.000611539109 = 1.8346 → 1.83
    caps = [MaxRate(date(2026, 1, 1), date(2026, 12, 31), D("0.25"), "example")]
    terms = _terms(late_interest_rate=D("0.30"))
    moves = [
        Movement("pay0", date(2026, 1, 10), D("100.00")),
        Movement("pay1", date(2026, 2, 11), D("301.83")),
    ]
    state = evaluate(terms, moves, caps, date(2026, 2, 11))
    line = state.line(1)
    assert line.late_days == 10
    assert line.capped and line.rate_applied == D("0.25")
    # imputation: 1.83 late interest first, then the 300.00 principal: paid in full on 11 Feb
    assert line.late_paid == D("1.83")
    assert line.paid == D("300.00") and line.paid_on == date(2026, 2, 11)
    assert state.late_interest_due == 0
    assert state.outstanding == D("600.00")


def test_rate_below_cap_is_not_capped_and_missing_cap_is_not_invented() -> None:
    state = evaluate(_terms(late_interest_rate=D("0.20")), [], [], date(2026, 2, 10))
    line = state.line(1)
    assert not line.capped and line.rate_applied == D("0.20")
    assert line.late_days == 10
    assert line.late_accrued == D(300) * 10 * daily_rate(D("0.20"))
    no_rate = evaluate(_terms(), [], [], date(2026, 2, 10))
    assert no_rate.late_interest_due == 0


def test_reversal_takes_back_exactly_what_the_payment_paid() -> None:
    terms = _terms()
    moves = [
        Movement("pay0", date(2026, 1, 10), D("100.00")),
        Movement("pay1", date(2026, 1, 30), D("300.00")),
    ]
    paid = evaluate(terms, moves, [], date(2026, 2, 1))
    assert paid.line(1).paid_on == date(2026, 1, 30)
    reversed_ = evaluate(
        terms, [*moves, Movement("pay1", date(2026, 2, 1), D(0), True)], [], date(2026, 2, 1)
    )
    assert reversed_.line(1).paid == 0 and reversed_.line(1).paid_on is None
    assert reversed_.line(0).paid == D("100.00")
    assert reversed_.outstanding == D("900.00")


def test_everything_paid_settles_the_plan() -> None:
    terms = _terms()
    moves = [
        Movement("a", date(2026, 1, 10), D("100.00")),
        Movement("b", date(2026, 1, 31), D("500.00")),
        Movement("c", date(2026, 2, 20), D("400.00")),
    ]
    state = evaluate(terms, moves, [], date(2026, 2, 20))
    assert state.settled and state.amount_paid == D("1000.00")
    assert state.unimputed == 0
