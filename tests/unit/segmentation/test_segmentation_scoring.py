"""Score features from an account's own history, the label, and the rule-based fallback."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from services.segmentation.domain.attributes import AccountState, base_attributes, stage_for
from services.segmentation.domain.scoring import (
    NO_PAYMENT_DAYS,
    AccountHistory,
    AgingPoint,
    PaymentPoint,
    fallback_probability,
    features_as_of,
    paid_within,
)


def history() -> AccountHistory:
    return AccountHistory(
        account_id="A1",
        invoices=[
            (date(2025, 1, 1), Decimal(100)),
            (date(2025, 2, 1), Decimal(100)),
            (date(2025, 3, 1), Decimal(100)),
        ],
        payments=[
            PaymentPoint(date(2025, 1, 10), Decimal(100), True),
            PaymentPoint(date(2025, 3, 20), Decimal(100), False),
            PaymentPoint(date(2025, 5, 2), Decimal(100), False),
        ],
        aging=[
            AgingPoint(date(2025, 2, 16), "dpd_1_30", 1, Decimal(100)),
            AgingPoint(date(2025, 3, 18), "dpd_31_60", 31, Decimal(200)),
            AgingPoint(date(2025, 3, 20), "current", 0, Decimal(0)),
        ],
        broken=[date(2025, 3, 5)],
        kept=[date(2025, 5, 2)],
    )


def test_features_see_nothing_after_the_snapshot() -> None:
    f = features_as_of(history(), date(2025, 3, 19))
    assert f["on_time_ratio"] == (1 + 1) / (1 + 2)
    assert f["days_since_last_payment"] == 68
    assert f["current_dpd"] == 32  # 31 when aged on 18 March, one more day unpaid
    assert f["max_dpd_seen"] == 31
    assert f["broken_promises"] == 1 and f["kept_promises"] == 0
    assert f["overdue_ratio"] == 200 / 300
    assert f["balance_trend"] == (200 - 100) / 300  # 100 was overdue 30 days earlier (17 Feb)
    later = features_as_of(history(), date(2025, 6, 1))
    assert later["current_dpd"] == 0 and later["kept_promises"] == 1
    assert later["on_time_ratio"] == (1 + 1) / (3 + 2)


def test_a_new_account_has_neutral_features() -> None:
    f = features_as_of(AccountHistory("N", invoices=[(date(2025, 1, 1), Decimal(1))]), date(2025, 1, 2))
    assert f["on_time_ratio"] == 0.5
    assert f["days_since_last_payment"] == NO_PAYMENT_DAYS
    assert f["tenure_months"] == 1 / 30


def test_label_is_a_payment_in_the_30_days_after_the_snapshot() -> None:
    assert paid_within(history(), date(2025, 4, 2)) is True  # 2 May is day 30
    assert paid_within(history(), date(2025, 3, 20)) is False  # 20 March is the snapshot day itself
    assert paid_within(history(), date(2025, 3, 1)) is True
    assert paid_within(history(), date(2025, 5, 2)) is False  # the snapshot day itself is not after


def test_fallback_falls_with_arrears_and_broken_promises_and_stays_bounded() -> None:
    good = features_as_of(history(), date(2025, 6, 1))
    p_good = fallback_probability(good)
    worse = dict(good, current_dpd=90.0)
    worst = dict(worse, broken_promises=3.0, on_time_ratio=0.0, days_since_last_payment=365.0)
    assert p_good > fallback_probability(worse) > fallback_probability(worst)
    assert fallback_probability(dict(worst, current_dpd=720.0, broken_promises=10.0)) == 0.02
    assert fallback_probability(dict(good, on_time_ratio=1.0, kept_promises=5.0)) == 0.98


def test_stage_from_bucket_or_days_past_due() -> None:
    assert [stage_for(b, 0) for b in ("current", "dpd_1_30", "dpd_31_60", "dpd_61_90", "dpd_91_180")] == [
        "current",
        "early",
        "early",
        "late",
        "late",
    ]
    assert stage_for("dpd_181_360", 0) == stage_for("dpd_361_plus", 0) == "residual"
    assert [stage_for("custom", d) for d in (0, 60, 61, 180, 181)] == [
        "current",
        "early",
        "late",
        "late",
        "residual",
    ]


def test_attributes_age_the_account_between_aged_events() -> None:
    state = AccountState(
        "A1",
        "COP",
        bucket="dpd_31_60",
        days_past_due=31,
        aged_on=date(2026, 1, 1),
        last_payment_on=date(2025, 12, 1),
    )
    attrs = base_attributes(state, date(2026, 1, 31))
    assert attrs["days_past_due"] == 61 and attrs["stage"] == "early"  # the bucket decides the stage
    assert attrs["days_since_last_payment"] == 61
