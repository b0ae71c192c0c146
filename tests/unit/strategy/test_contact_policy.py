"""Ley 2300 de 2023 windows, holidays and caps."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.strategy.domain.contact_policy import (
    ContactPolicy,
    PastContact,
    next_allowed_slot,
    public_holidays,
)

BOG = ZoneInfo("America/Bogota")
CO = public_holidays("CO")


def slot(moment: datetime, channel: str = "sms", history=(), policy=None) -> datetime:
    return next_allowed_slot(
        moment, channel, timezone="America/Bogota", is_holiday=CO, history=history, policy=policy
    )


def test_inside_the_weekday_window_is_unchanged() -> None:
    moment = datetime(2026, 1, 14, 10, 30, tzinfo=BOG)  # Wednesday
    assert slot(moment) == moment


def test_before_seven_moves_to_seven_and_after_seven_pm_to_next_morning() -> None:
    assert slot(datetime(2026, 1, 14, 6, 0, tzinfo=BOG)) == datetime(2026, 1, 14, 7, 0, tzinfo=BOG)
    assert slot(datetime(2026, 1, 14, 19, 0, tzinfo=BOG)) == datetime(2026, 1, 15, 7, 0, tzinfo=BOG)


def test_saturday_window_is_eight_to_three() -> None:
    assert slot(datetime(2026, 1, 17, 7, 30, tzinfo=BOG)) == datetime(2026, 1, 17, 8, 0, tzinfo=BOG)
    # Saturday 15:00 -> Sunday forbidden -> Monday 2026-01-19 07:00
    assert slot(datetime(2026, 1, 17, 15, 0, tzinfo=BOG)) == datetime(2026, 1, 19, 7, 0, tzinfo=BOG)


def test_sunday_and_colombian_holiday_are_skipped() -> None:
    # Sunday 2026-01-11, Monday 2026-01-12 is Reyes Magos (holiday) -> Tuesday 07:00
    assert date(2026, 1, 12) in holidays_set()
    assert slot(datetime(2026, 1, 11, 10, tzinfo=BOG)) == datetime(2026, 1, 13, 7, 0, tzinfo=BOG)


def holidays_set() -> set[date]:
    return {d for d in (date(2026, 1, 12), date(2026, 1, 13)) if CO(d)}


def test_utc_input_is_judged_in_the_debtors_local_time() -> None:
    # 2026-01-14 23:30 UTC is 18:30 in Bogotá: allowed
    moment = datetime(2026, 1, 14, 23, 30, tzinfo=ZoneInfo("UTC"))
    assert slot(moment) == moment


def test_one_contact_a_day() -> None:
    history = [PastContact("sms", datetime(2026, 1, 14, 9, tzinfo=BOG))]
    assert slot(datetime(2026, 1, 14, 11, tzinfo=BOG), history=history) == datetime(
        2026, 1, 15, 7, tzinfo=BOG
    )


def test_a_second_channel_waits_for_next_week() -> None:
    history = [PastContact("email", datetime(2026, 1, 14, 9, tzinfo=BOG))]
    result = slot(datetime(2026, 1, 15, 10, tzinfo=BOG), channel="sms", history=history)
    assert result == datetime(2026, 1, 19, 7, tzinfo=BOG)


def test_weekly_cap_per_channel() -> None:
    history = [
        PastContact("sms", datetime(2026, 1, 13, 9, tzinfo=BOG)),
        PastContact("sms", datetime(2026, 1, 14, 9, tzinfo=BOG)),
    ]
    assert slot(datetime(2026, 1, 15, 10, tzinfo=BOG), history=history) == datetime(
        2026, 1, 19, 7, tzinfo=BOG
    )
    relaxed = ContactPolicy(max_per_channel_per_week=3)
    assert slot(datetime(2026, 1, 15, 10, tzinfo=BOG), history=history, policy=relaxed) == datetime(
        2026, 1, 15, 10, tzinfo=BOG
    )


def test_naive_times_and_bad_policies_are_rejected() -> None:
    with pytest.raises(ValueError):
        slot(datetime(2026, 1, 14, 10))
    with pytest.raises(ValueError):
        ContactPolicy(max_per_day=0)


def test_unknown_country_has_no_holidays() -> None:
    assert public_holidays("ZZ")(date(2026, 1, 1)) is False
