"""Aging's pure rules: DPD in the debtor's calendar, buckets, grace periods, partial payments."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.aging.config import DEFAULT_CONFIG, load_scheme
from services.aging.domain.rules import (
    BucketScheme,
    OpenItem,
    SchemeError,
    account_dpd,
    in_grace,
    invoice_dpd,
    lapse_on,
    local_date,
    local_midnight,
    next_local_midnight,
)

SCHEME = load_scheme(None)


def test_an_invoice_due_on_d_is_one_day_past_due_on_d_plus_one() -> None:
    due = date(2026, 1, 20)
    assert invoice_dpd(due, date(2026, 1, 20), Decimal("10")) == 0
    assert invoice_dpd(due, date(2026, 1, 21), Decimal("10")) == 1
    assert invoice_dpd(due, date(2026, 1, 10), Decimal("10")) == 0


@pytest.mark.parametrize(
    ("due", "on", "dpd"),
    [
        (date(2026, 1, 31), date(2026, 2, 1), 1),
        (date(2026, 1, 31), date(2026, 3, 2), 30),
        (date(2026, 12, 31), date(2027, 1, 1), 1),
        (date(2028, 2, 28), date(2028, 3, 1), 2),  # 2028 is a leap year: Feb 29 counts
        (date(2028, 2, 29), date(2028, 3, 1), 1),
        (date(2028, 2, 29), date(2029, 2, 28), 365),
        (date(2027, 2, 28), date(2027, 3, 1), 1),  # not a leap year
    ],
)
def test_dpd_across_month_year_and_leap_day_edges(due: date, on: date, dpd: int) -> None:
    assert invoice_dpd(due, on, Decimal("1")) == dpd


def test_the_local_date_depends_on_the_debtors_timezone() -> None:
    moment = datetime(2026, 1, 21, 3, 30, tzinfo=UTC)  # still Jan 20 in Bogotá (UTC-5), Jan 21 in Madrid
    assert local_date(moment, "America/Bogota") == date(2026, 1, 20)
    assert local_date(moment, "Europe/Madrid") == date(2026, 1, 21)
    due = date(2026, 1, 20)
    assert invoice_dpd(due, local_date(moment, "America/Bogota"), Decimal("5")) == 0
    assert invoice_dpd(due, local_date(moment, "Europe/Madrid"), Decimal("5")) == 1


def test_local_midnights_in_utc_including_dst_changes() -> None:
    assert local_midnight(date(2026, 1, 21), "America/Bogota") == datetime(2026, 1, 21, 5, tzinfo=UTC)
    assert next_local_midnight(datetime(2026, 1, 21, 4, 59, tzinfo=UTC), "America/Bogota") == datetime(
        2026, 1, 21, 5, tzinfo=UTC
    )
    assert next_local_midnight(datetime(2026, 1, 21, 5, tzinfo=UTC), "America/Bogota") == datetime(
        2026, 1, 22, 5, tzinfo=UTC
    )
    # Madrid: CET (UTC+1) in winter, CEST (UTC+2) after 2026-03-29.
    assert local_midnight(date(2026, 3, 29), "Europe/Madrid") == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert local_midnight(date(2026, 3, 30), "Europe/Madrid") == datetime(2026, 3, 29, 22, tzinfo=UTC)
    # Santiago de Chile changes clocks at midnight: the missing 00:00 maps to the first instant of the day.
    first = local_midnight(date(2026, 9, 6), "America/Santiago")
    assert local_date(first, "America/Santiago") == date(2026, 9, 6)


def test_partial_payments_keep_the_invoice_aging_and_full_payment_stops_it() -> None:
    due = date(2026, 1, 20)
    on = date(2026, 3, 1)
    assert invoice_dpd(due, on, Decimal("0.01")) == 40
    assert invoice_dpd(due, on, Decimal("0")) == 0


def test_account_dpd_is_the_oldest_unpaid_invoice_and_overdue_amount_sums_overdue_only() -> None:
    items = [
        OpenItem(date(2026, 1, 10), Decimal("0")),  # paid: ignored even though oldest
        OpenItem(date(2026, 2, 10), Decimal("30.50")),
        OpenItem(date(2026, 3, 10), Decimal("20")),
        OpenItem(date(2026, 4, 10), Decimal("999")),  # not due yet
    ]
    assert account_dpd(items, date(2026, 4, 1)) == (50, Decimal("50.50"))
    assert account_dpd([], date(2026, 4, 1)) == (0, Decimal(0))


@pytest.mark.parametrize(
    ("dpd", "bucket", "stage"),
    [
        (0, "current", "current"),
        (1, "dpd_1_30", "early"),
        (30, "dpd_1_30", "early"),
        (31, "dpd_31_60", "early"),
        (60, "dpd_31_60", "early"),
        (61, "dpd_61_90", "late"),
        (91, "dpd_91_180", "late"),
        (180, "dpd_91_180", "late"),
        (181, "dpd_181_360", "residual"),
        (360, "dpd_181_360", "residual"),
        (361, "dpd_361_plus", "residual"),
        (5000, "dpd_361_plus", "residual"),
    ],
)
def test_default_buckets_and_stages(dpd: int, bucket: str, stage: str) -> None:
    found = SCHEME.bucket_for(dpd)
    assert (found.name, found.stage) == (bucket, stage)


def test_default_scheme_file_is_the_one_shipped() -> None:
    assert DEFAULT_CONFIG.name == "buckets.yaml"
    assert SCHEME.edges() == [1, 31, 61, 91, 181, 361]
    assert SCHEME.grace_for("vida") == 30
    assert SCHEME.grace_for("auto") == 30
    assert SCHEME.grace_for("cumplimiento") is None


def test_grace_moves_the_lapse_not_the_dpd() -> None:
    due = date(2026, 1, 31)
    assert lapse_on(due, 30) == date(2026, 3, 2)
    assert lapse_on(date(2028, 2, 28), 1) == date(2028, 2, 29)
    assert lapse_on(due, None) is None
    assert in_grace(due, date(2026, 2, 1), 30)
    assert in_grace(due, date(2026, 3, 2), 30)
    assert not in_grace(due, date(2026, 3, 3), 30)
    assert not in_grace(due, date(2026, 1, 31), 30)
    assert invoice_dpd(due, date(2026, 2, 1), Decimal("1")) == 1  # DPD counts during grace


def test_tenant_overrides_and_invalid_schemes(tmp_path) -> None:
    (tmp_path / "aging.yaml").write_text(
        "buckets:\n"
        "  - {name: al_dia, min_dpd: 0, max_dpd: 0, stage: current}\n"
        "  - {name: mora_1_90, min_dpd: 1, max_dpd: 90, stage: early}\n"
        "  - {name: mora_91_mas, min_dpd: 91, max_dpd: null, stage: residual}\n"
        "grace_days: {vida: 30}\n"
        "tenants:\n"
        "  acme:\n"
        "    grace_days: {vida: 45}\n",
        encoding="utf-8",
    )
    default = load_scheme(tmp_path)
    assert default.current == "al_dia" and default.bucket_for(95).name == "mora_91_mas"
    assert load_scheme(tmp_path, "acme").grace_for("vida") == 45
    with pytest.raises(SchemeError, match="without gap"):
        BucketScheme.from_mapping(
            {
                "buckets": [
                    {"name": "c", "min_dpd": 0, "max_dpd": 0, "stage": "current"},
                    {"name": "x", "min_dpd": 2, "max_dpd": None, "stage": "early"},
                ]
            }
        )
    with pytest.raises(SchemeError, match="open-ended"):
        BucketScheme.from_mapping(
            {"buckets": [{"name": "c", "min_dpd": 0, "max_dpd": 0, "stage": "current"}]}
        )
