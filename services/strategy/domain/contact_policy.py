"""When a collection contact may happen: the law of the debtor's country, as data.

Presets, chosen by the debtor's country (``preset_for``), each overridable per tenant
(``config/policies.yaml``):

* **CO, Ley 2300 de 2023, article 3.** Monday to Friday 07:00-19:00, Saturday 08:00-15:00, in
  the debtor's local time; never on Sundays or public holidays; at most one contact a day;
  once a *direct contact* was made, no other channel in the same calendar week (the house cap
  ``single_channel_per_week`` goes further: one channel a week whatever happened); a house cap
  of contacts per channel per week.
* **US, Regulation F, 12 CFR 1006.6(b)(1)(i) and 1006.14(b)(2).** No communication before
  08:00 or after 21:00 local time, any day (the rule names no weekdays or holidays). When the
  debtor's zone is unknown, the window is the one convenient in every zone of the fifty states:
  08:00-15:00 Hawaii time, i.e. 13:00-20:00 EST / 14:00-21:00 EDT, 09:00-16:00 AKST (Hawaii
  has no daylight time, so the window holds all year). Calls (``voice``): at most 7 attempts in
  any 7 consecutive days, and none within 7 days after a telephone conversation about the debt.
* **default** (any other country): Monday to Friday 08:00-20:00 local, never on Sundays or the
  country's public holidays (``holidays``), one contact a day.

*Direct contact* is a ``contact.outcome`` whose status is ``answered`` or ``read``: the debtor
took the call or reply, or opened the message (``delivered`` only proves the carrier's side).
A *telephone conversation* is an ``answered`` outcome on ``voice``.

A contact that does not fit is **moved** to the next moment that does, never dropped: ``fit``
returns the slot and each move with the rule that made it, so the caller can log why. Consent is
the caller's: a channel without recorded consent is suppressed, not moved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays

MONDAY, SATURDAY, SUNDAY = 0, 5, 6
DIRECT_STATUSES = frozenset({"answered", "read"})
"""``contact.outcome`` statuses that mean the debtor was reached in person (a direct contact)."""
CONVERSATION = ("voice", "answered")
"""(channel, status) of a telephone conversation."""

LEY_2300_WINDOWS: Mapping[int, tuple[time, time]] = {
    **{day: (time(7), time(19)) for day in range(MONDAY, SATURDAY)},
    SATURDAY: (time(8), time(15)),
}
REG_F_WINDOWS: Mapping[int, tuple[time, time]] = {day: (time(8), time(21)) for day in range(7)}
DEFAULT_WINDOWS: Mapping[int, tuple[time, time]] = {
    day: (time(8), time(20)) for day in range(MONDAY, SATURDAY)
}
US_UNKNOWN_ZONE = "Pacific/Honolulu"
US_UNKNOWN_ZONE_WINDOWS: Mapping[int, tuple[time, time]] = {day: (time(8), time(15)) for day in range(7)}


@dataclass(frozen=True)
class PastContact:
    """A contact already scheduled for the debtor (local or UTC aware time)."""

    channel: str
    at: datetime


@dataclass(frozen=True)
class History:
    """What the policy needs to know of a debtor besides the contacts already scheduled."""

    contacts: tuple[PastContact, ...] = ()
    direct_at: datetime | None = None
    direct_channel: str | None = None
    conversation_at: datetime | None = None


@dataclass(frozen=True)
class ContactPolicy:
    """One preset: windows per weekday (0 = Monday), caps (``None`` = no cap) and the rules' names."""

    windows: Mapping[int, tuple[time, time]] = field(default_factory=lambda: dict(LEY_2300_WINDOWS))
    max_per_day: int | None = 1
    single_channel_per_week: bool = True
    max_per_channel_per_week: int | None = 2
    search_days: int = 120
    name: str = "ley_2300"
    closed_on_holidays: bool = True
    single_channel_after_direct_contact: bool = True
    max_calls_per_7_days: int | None = None
    quiet_days_after_conversation: int | None = None

    def __post_init__(self) -> None:
        for cap in (self.max_per_day, self.max_per_channel_per_week, self.max_calls_per_7_days):
            if cap is not None and cap < 1:
                raise ValueError("contact caps must be at least 1")
        if self.quiet_days_after_conversation is not None and self.quiet_days_after_conversation < 0:
            raise ValueError("quiet_days_after_conversation must not be negative")
        if not self.windows:
            raise ValueError("a contact policy needs at least one window")
        for weekday, (start, end) in self.windows.items():
            if not 0 <= weekday <= 6 or start >= end:
                raise ValueError(f"invalid contact window for weekday {weekday}: {start}-{end}")


PRESETS: Mapping[str, ContactPolicy] = {
    "CO": ContactPolicy(),
    "US": ContactPolicy(
        windows=dict(REG_F_WINDOWS),
        max_per_day=None,
        single_channel_per_week=False,
        max_per_channel_per_week=None,
        name="reg_f",
        closed_on_holidays=False,
        single_channel_after_direct_contact=False,
        max_calls_per_7_days=7,
        quiet_days_after_conversation=7,
    ),
    "default": ContactPolicy(
        windows=dict(DEFAULT_WINDOWS),
        max_per_day=1,
        single_channel_per_week=False,
        max_per_channel_per_week=None,
        name="default",
        single_channel_after_direct_contact=False,
    ),
}

OVERRIDABLE = (
    "max_per_day",
    "single_channel_per_week",
    "max_per_channel_per_week",
    "closed_on_holidays",
    "single_channel_after_direct_contact",
    "max_calls_per_7_days",
    "quiet_days_after_conversation",
    "windows",
)


def parse_windows(raw: Any, where: str) -> dict[int, tuple[time, time]]:
    """``{mon: "08:00-20:00", sat: "09:00-13:00"}`` (a day left out is closed)."""
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{where}: a mapping of weekday (mon..sun) to 'HH:MM-HH:MM'")
    out: dict[int, tuple[time, time]] = {}
    for day, span in raw.items():
        if day not in days:
            raise ValueError(f"{where}.{day}: not a weekday (mon..sun)")
        try:
            start, end = (time.fromisoformat(part.strip()) for part in str(span).split("-"))
        except ValueError:
            raise ValueError(f"{where}.{day}: {span!r} is not 'HH:MM-HH:MM'") from None
        if start >= end:
            raise ValueError(f"{where}.{day}: the window must end after it starts")
        out[days.index(day)] = (start, end)
    return out


def with_overrides(policy: ContactPolicy, raw: Mapping[str, Any], where: str) -> ContactPolicy:
    """A preset with a tenant's overrides (``policies.yaml``); raises ``ValueError`` naming the key."""
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in OVERRIDABLE:
            raise ValueError(f"{where}.{key}: unknown key (one of {', '.join(OVERRIDABLE)})")
        if key == "windows":
            values[key] = parse_windows(value, f"{where}.windows")
        elif key in ("single_channel_per_week", "closed_on_holidays", "single_channel_after_direct_contact"):
            if not isinstance(value, bool):
                raise ValueError(f"{where}.{key}: must be true or false")
            values[key] = value
        else:
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ValueError(f"{where}.{key}: must be a whole number or null")
            values[key] = value
    try:
        return replace(policy, **values)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def preset_for(country: str | None, presets: Mapping[str, ContactPolicy] | None = None) -> ContactPolicy:
    """The preset of the debtor's country, else ``default``."""
    known = PRESETS if presets is None else presets
    return known.get((country or "").upper()) or known["default"]


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


@dataclass(frozen=True)
class Move:
    """One step of a contact's way to its slot: from, to, and the rule that pushed it."""

    start: datetime
    end: datetime
    rule: str


@dataclass(frozen=True)
class Fit:
    slot: datetime
    moves: tuple[Move, ...] = ()

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.rule for m in self.moves))


def for_zone(policy: ContactPolicy, timezone: str | None, country: str | None) -> tuple[ContactPolicy, str]:
    """The policy and zone to fit in: a US debtor of unknown zone gets the every-US-zone window."""
    if timezone:
        return policy, timezone
    if (country or "").upper() == "US":
        return replace(policy, windows=dict(US_UNKNOWN_ZONE_WINDOWS)), US_UNKNOWN_ZONE
    raise ValueError("the debtor's zone is needed outside the US (the caller supplies the default)")


def fit(
    desired: datetime,
    channel: str,
    *,
    timezone: str,
    is_holiday: HolidayCheck,
    history: History | Iterable[PastContact] = (),
    policy: ContactPolicy | None = None,
) -> Fit:
    """The earliest moment at or after ``desired`` the policy allows, with every move and its rule."""
    if desired.tzinfo is None:
        raise ValueError("desired must be timezone-aware")
    policy = policy or ContactPolicy()
    known = history if isinstance(history, History) else History(tuple(history))
    zone = ZoneInfo(timezone)
    past = [(c.channel, c.at.astimezone(zone).date()) for c in known.contacts]
    calls = sorted(c.at for c in known.contacts if c.channel == "voice")
    direct_week = _week(known.direct_at.astimezone(zone).date()) if known.direct_at else None
    candidate = desired.astimezone(zone)
    limit = candidate.date() + timedelta(days=policy.search_days)
    moves: list[Move] = []
    rule_of = policy.name

    def go(to: datetime, rule: str) -> datetime:
        moves.append(Move(candidate, to, f"{rule_of}.{rule}"))
        return to

    def next_day(day: date) -> datetime:
        return datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)

    def next_monday(day: date) -> datetime:
        return datetime.combine(day + timedelta(days=7 - day.weekday()), time.min, tzinfo=zone)

    while candidate.date() <= limit:
        day = candidate.date()
        window = policy.windows.get(day.weekday())
        if window is None:
            candidate = go(next_day(day), "sunday" if day.weekday() == SUNDAY else "closed_day")
            continue
        if policy.closed_on_holidays and is_holiday(day):
            candidate = go(next_day(day), "holiday")
            continue
        start, end = window
        if candidate.time() < start:
            candidate = go(datetime.combine(day, start, tzinfo=zone), "hours")
        if candidate.time() >= end:
            candidate = go(next_day(day), "hours")
            continue
        if policy.max_per_day is not None and sum(1 for _, d in past if d == day) >= policy.max_per_day:
            candidate = go(next_day(day), "one_a_day" if policy.max_per_day == 1 else "daily_cap")
            continue
        week = [ch for ch, d in past if _week(d) == _week(day)]
        if (
            policy.single_channel_after_direct_contact
            and direct_week == _week(day)
            and known.direct_channel not in (None, channel)
        ):
            candidate = go(next_monday(day), "one_channel_after_direct_contact")
            continue
        if policy.single_channel_per_week and any(ch != channel for ch in week):
            candidate = go(next_monday(day), "one_channel_a_week")
            continue
        if (
            policy.max_per_channel_per_week is not None
            and sum(1 for ch in week if ch == channel) >= policy.max_per_channel_per_week
        ):
            candidate = go(next_monday(day), "channel_weekly_cap")
            continue
        if channel == "voice" and policy.quiet_days_after_conversation and known.conversation_at is not None:
            quiet_until = known.conversation_at + timedelta(days=policy.quiet_days_after_conversation)
            if candidate < quiet_until:
                candidate = go(quiet_until.astimezone(zone), "after_conversation")
                continue
        if channel == "voice" and policy.max_calls_per_7_days is not None:
            recent = [at for at in calls if candidate - timedelta(days=7) < at <= candidate]
            if len(recent) >= policy.max_calls_per_7_days:
                oldest = recent[-policy.max_calls_per_7_days]
                candidate = go((oldest + timedelta(days=7)).astimezone(zone), "seven_calls_in_seven_days")
                continue
        return Fit(candidate, tuple(moves))
    raise ValueError(f"no allowed contact slot within {policy.search_days} days of {desired.isoformat()}")


def next_allowed_slot(
    desired: datetime,
    channel: str,
    *,
    timezone: str,
    is_holiday: HolidayCheck,
    history: History | Iterable[PastContact] = (),
    policy: ContactPolicy | None = None,
) -> datetime:
    """The earliest moment at or after ``desired`` the law and the caps allow (aware, debtor's zone)."""
    return fit(
        desired, channel, timezone=timezone, is_holiday=is_holiday, history=history, policy=policy
    ).slot
