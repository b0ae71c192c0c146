"""Treatment rules beyond the playbook itself: collection pauses, resuming, escalating.

Rules, in order:

1. **Pause.** An account is paused while one of its pauses is neither ended (a resume, its last
   day over) nor past its end: no contact of any kind, no escalation. ``until`` is the last
   paused day in the debtor's zone, so a pause ends at local midnight after it. ``deceased`` and
   ``bankruptcy`` never end by themselves (``until`` is ignored): only an explicit resume does.
2. **Resume.** The playbook picks up where the account's state is, not where it was: of the
   dunning steps whose day has passed and were never sent, only the latest is planned (now);
   the earlier ones collapse into it (no burst of overdue steps). Later steps keep their day.
3. **Escalate** (a broken promise, a broken payment plan). The account is never left quieter than
   before: the next step after the last one sent is planned now, even before its own day; the
   following ones keep their spacing from it (or their own day, when later). With every step already sent, the last
   (strongest) step is made again now.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from services.strategy.domain.playbooks import Step

PERMANENT_REASONS = frozenset({"deceased", "bankruptcy"})
"""Pauses only an explicit resume ends."""


class PauseLike(Protocol):
    @property
    def ends_at(self) -> datetime | None: ...

    @property
    def ended_at(self) -> datetime | None: ...


def pause_ends_at(reason: str, until: date | None, timezone: str) -> datetime | None:
    """Rule 1: local midnight after the last paused day; never for permanent reasons or no ``until``."""
    if reason in PERMANENT_REASONS or until is None:
        return None
    return datetime.combine(until + timedelta(days=1), time.min, tzinfo=ZoneInfo(timezone))


def pause_in_force(pause: PauseLike, now: datetime) -> bool:
    return pause.ended_at is None and (pause.ends_at is None or now < pause.ends_at)


def is_paused(pauses: Iterable[PauseLike], now: datetime) -> bool:
    """Rule 1: whether any of an account's pauses holds its collection at ``now``."""
    return any(pause_in_force(p, now) for p in pauses)


@dataclass(frozen=True)
class StepAt:
    step: Step
    at: datetime


def nominal(step: Step, anchor: date, contact_time: time, zone: ZoneInfo) -> datetime:
    """When a dunning step falls: ``day`` days after the anchor, at the contact time, debtor's zone."""
    assert step.day is not None
    return datetime.combine(anchor + timedelta(days=step.day), contact_time, tzinfo=zone)


def resume_plan(
    steps: Sequence[Step],
    anchor: date,
    contact_time: time,
    zone: ZoneInfo,
    now: datetime,
    sent: Iterable[str],
) -> tuple[list[StepAt], list[Step]]:
    """Rule 2: (steps to plan with their moment, passed steps that collapse into the planned one)."""
    done = set(sent)
    ordered = sorted(steps, key=lambda s: s.day or 0)
    passed = [s for s in ordered if nominal(s, anchor, contact_time, zone) <= now and s.name not in done]
    later = [s for s in ordered if nominal(s, anchor, contact_time, zone) > now and s.name not in done]
    plan = [StepAt(passed[-1], now)] if passed else []
    plan += [StepAt(s, nominal(s, anchor, contact_time, zone)) for s in later]
    return plan, passed[:-1]


def escalation_plan(
    steps: Sequence[Step],
    anchor: date,
    contact_time: time,
    zone: ZoneInfo,
    now: datetime,
    sent: Iterable[str],
) -> list[StepAt]:
    """Rule 3: the next unsent step now, the rest spaced as the playbook spaces them (never earlier)."""
    ordered = sorted(steps, key=lambda s: s.day or 0)
    if not ordered:
        return []
    done = set(sent)
    last_sent = max((i for i, s in enumerate(ordered) if s.name in done), default=-1)
    remaining = [s for s in ordered[last_sent + 1 :] if s.name not in done]
    if not remaining:
        return [StepAt(ordered[-1], now)]
    first = remaining[0]
    assert first.day is not None
    plan = [StepAt(first, now)]
    for step in remaining[1:]:
        assert step.day is not None
        spaced = now + timedelta(days=step.day - first.day)
        plan.append(StepAt(step, max(spaced, nominal(step, anchor, contact_time, zone))))
    return plan
