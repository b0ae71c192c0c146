"""When a collection contact may happen: Ley 2300 de 2023 (Colombia), article 3.

* Hours, in the debtor's local time: Monday to Friday 07:00-19:00, Saturday
  08:00-15:00; never on Sundays or public holidays.
* Periodicity: at most one contact a day, and a debtor is contacted through one
  channel only within the same calendar week.
* On top of the law, a house cap of contacts per channel per week (configurable).

A contact that does not fit moves to the next slot that does; the engine never
drops it. Consent (the channels the debtor authorised) is checked by the caller,
because a channel without consent is skipped, not moved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

MONDAY, SATURDAY, SUNDAY = 0, 5, 6

LEY_2300_WINDOWS: Mapping[int, tuple[time, time]] = {
    **{day: (time(7), time(19)) for day in range(MONDAY, SATURDAY)},
    SATURDAY: (time(8), time(15)),
}


@dataclass(frozen=True)
class PastContact:
    """A contact already scheduled for the debtor (local or UTC aware time)."""

    channel: str
    at: datetime


@dataclass(frozen=True)
class ContactPolicy:
    windows: Mapping[int, tuple[time, time]] = field(default_factory=lambda: dict(LEY_2300_WINDOWS))
    max_per_day: int = 1
    single_channel_per_week: bool = True
    max_per_channel_per_week: int = 2
    search_days: int = 120

    def __post_init__(self) -> None:
        if self.max_per_day < 1 or self.max_per_channel_per_week < 1:
            raise ValueError("contact caps must be at least 1")
        for weekday, (start, end) in self.windows.items():
            if not 0 <= weekday <= 6 or start >= end:
                raise ValueError(f"invalid contact window for weekday {weekday}: {start}-{end}")


HolidayCheck = Callable[[date], bool]


@lru_cache(maxsize=64)
def _calendar(country: str) -> holidays.HolidayBase | None:
    try:
        return holidays.country_holidays(country)
    except NotImplementedError:
        return None


def public_holidays(country: str) -> HolidayCheck:
    """The country's public holidays (festivos); a country the package does not know has none."""
    calendar = _calendar(country.upper())
    if calendar is None:
        return lambda day: False
    return lambda day: day in calendar


def _week(day: date) -> tuple[int, int]:
    iso = day.isocalendar()
    return iso.year, iso.week


def next_allowed_slot(
    desired: datetime,
    channel: str,
    *,
    timezone: str,
    is_holiday: HolidayCheck,
    history: Iterable[PastContact] = (),
    policy: ContactPolicy | None = None,
) -> datetime:
    """The earliest moment at or after ``desired`` the law and the caps allow (aware, debtor's zone)."""
    if desired.tzinfo is None:
        raise ValueError("desired must be timezone-aware")
    policy = policy or ContactPolicy()
    zone = ZoneInfo(timezone)
    past = [(c.channel, c.at.astimezone(zone).date()) for c in history]
    candidate = desired.astimezone(zone)
    limit = candidate.date() + timedelta(days=policy.search_days)

    def next_day(day: date) -> datetime:
        return datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)

    def next_monday(day: date) -> datetime:
        return datetime.combine(day + timedelta(days=7 - day.weekday()), time.min, tzinfo=zone)

    while candidate.date() <= limit:
        day = candidate.date()
        window = policy.windows.get(day.weekday())
        if window is None or day.weekday() == SUNDAY or is_holiday(day):
            candidate = next_day(day)
            continue
        start, end = window
        if candidate.time() < start:
            candidate = datetime.combine(day, start, tzinfo=zone)
        if candidate.time() >= end:
            candidate = next_day(day)
            continue
        if sum(1 for _, d in past if d == day) >= policy.max_per_day:
            candidate = next_day(day)
            continue
        week = [ch for ch, d in past if _week(d) == _week(day)]
        if policy.single_channel_per_week and any(ch != channel for ch in week):
            candidate = next_monday(day)
            continue
        if sum(1 for ch in week if ch == channel) >= policy.max_per_channel_per_week:
            candidate = next_monday(day)
            continue
        return candidate
    raise ValueError(f"no allowed contact slot within {policy.search_days} days of {desired.isoformat()}")
