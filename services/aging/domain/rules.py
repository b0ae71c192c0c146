"""Aging rules: days past due, buckets and stages, grace periods, local midnights.

Pure functions, no I/O. Business dates are the debtor's local dates: an invoice
due on D is 1 day past due on local date D+1, whatever the hour. Grace periods
move escalation and policy lapse, never DPD.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

CURRENT = "current"


class SchemeError(ValueError):
    """The bucket configuration is not a contiguous partition of 0..∞ days past due."""


@dataclass(frozen=True)
class Bucket:
    name: str
    min_dpd: int
    max_dpd: int | None
    stage: str

    def contains(self, dpd: int) -> bool:
        return dpd >= self.min_dpd and (self.max_dpd is None or dpd <= self.max_dpd)


@dataclass(frozen=True)
class BucketScheme:
    """A tenant's buckets (contiguous from 0, the first one being ``current``) and grace days."""

    buckets: tuple[Bucket, ...]
    grace_days: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.buckets:
            raise SchemeError("buckets: at least one bucket is needed")
        first = self.buckets[0]
        if first.min_dpd != 0 or first.max_dpd != 0:
            raise SchemeError("buckets.0: the first bucket must be exactly 0 days past due (current)")
        names = [b.name for b in self.buckets]
        if len(set(names)) != len(names):
            raise SchemeError("buckets: names must be unique")
        for i, (prev, nxt) in enumerate(zip(self.buckets, self.buckets[1:], strict=False), start=1):
            if prev.max_dpd is None or nxt.min_dpd != prev.max_dpd + 1:
                raise SchemeError(f"buckets.{i}.min_dpd: must follow bucket {prev.name!r} without gap")
            if nxt.max_dpd is not None and nxt.max_dpd < nxt.min_dpd:
                raise SchemeError(f"buckets.{i}.max_dpd: must be >= min_dpd")
        if self.buckets[-1].max_dpd is not None:
            raise SchemeError(f"buckets.{len(self.buckets) - 1}.max_dpd: the last bucket must be open-ended")
        for line, days in self.grace_days.items():
            if days < 0:
                raise SchemeError(f"grace_days.{line}: must be zero or positive")

    @property
    def current(self) -> str:
        return self.buckets[0].name

    def bucket_for(self, dpd: int) -> Bucket:
        for bucket in self.buckets:
            if bucket.contains(dpd):
                return bucket
        raise SchemeError(f"no bucket for {dpd} days past due")  # unreachable for a valid scheme

    def edges(self) -> list[int]:
        """The DPD values at which an account enters a new bucket (1, 31, 61, … by default)."""
        return [b.min_dpd for b in self.buckets[1:]]

    def grace_for(self, product_line: str) -> int | None:
        """Grace days before the policy lapses, or None when the product line has no lapse."""
        return self.grace_days.get(product_line)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> BucketScheme:
        raw = data.get("buckets")
        if not isinstance(raw, list):
            raise SchemeError("buckets: a list of {name, min_dpd, max_dpd, stage} is required")
        buckets = []
        for i, item in enumerate(raw):
            try:
                max_dpd = item.get("max_dpd")
                buckets.append(
                    Bucket(
                        name=str(item["name"]),
                        min_dpd=int(item["min_dpd"]),
                        max_dpd=None if max_dpd is None else int(max_dpd),
                        stage=str(item["stage"]),
                    )
                )
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise SchemeError(f"buckets.{i}: {exc!r}") from exc
        grace = data.get("grace_days") or {}
        if not isinstance(grace, Mapping):
            raise SchemeError("grace_days: a mapping of product line to days is required")
        return cls(tuple(buckets), {str(k): int(v) for k, v in grace.items()})


def local_date(moment: datetime, timezone: str) -> date:
    """The debtor's calendar date at ``moment``."""
    return moment.astimezone(ZoneInfo(timezone)).date()


def local_midnight(day: date, timezone: str) -> datetime:
    """The first instant of ``day`` in ``timezone``, in UTC.

    Where a DST change skips midnight, zoneinfo maps the missing wall time
    forward, which is the first instant the debtor lives on ``day``.
    """
    wall = datetime.combine(day, time.min, tzinfo=ZoneInfo(timezone))
    return wall.astimezone(UTC)


def next_local_midnight(moment: datetime, timezone: str) -> datetime:
    """The next local midnight strictly after ``moment``."""
    return local_midnight(local_date(moment, timezone) + timedelta(days=1), timezone)


def invoice_dpd(due_on: date, on: date, open_amount: Decimal) -> int:
    """Days past due of one invoice on local date ``on``: 0 once nothing is owed."""
    if open_amount <= 0:
        return 0
    return max(0, (on - due_on).days)


@dataclass(frozen=True)
class OpenItem:
    due_on: date
    open_amount: Decimal


def account_dpd(items: Iterable[OpenItem], on: date) -> tuple[int, Decimal]:
    """An account's DPD (its oldest unpaid invoice's) and the amount overdue on ``on``."""
    dpd = 0
    overdue = Decimal(0)
    for item in items:
        days = invoice_dpd(item.due_on, on, item.open_amount)
        if days > 0:
            dpd = max(dpd, days)
            overdue += item.open_amount
    return dpd, overdue


def lapse_on(due_on: date, grace_days: int | None) -> date | None:
    """The date the policy lapses if the premium is still unpaid at its local midnight."""
    if grace_days is None:
        return None
    return due_on + timedelta(days=grace_days)


def in_grace(due_on: date, on: date, grace_days: int | None) -> bool:
    """Overdue but still inside the product's grace period (escalation waits)."""
    if grace_days is None:
        return False
    return due_on < on <= due_on + timedelta(days=grace_days)
