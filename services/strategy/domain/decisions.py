"""What the strategy decided about a debtor, and why: the auditor's record.

Every rule that plans, moves, suppresses, cancels, escalates, pauses or resumes a
contact says so with a :class:`Decision`; the adapter appends them (never updates),
so ``GET /v1/accounts/{id}/decisions`` answers "why was this debtor contacted when
they were" with the rule that decided it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, get_args

from services.strategy.domain.contact_policy import (
    ContactPolicy,
    History,
    HolidayCheck,
    PastContact,
    fit,
    for_zone,
    preset_for,
    public_holidays,
)

DecisionKind = Literal[
    "planned", "scheduled", "moved", "suppressed", "cancelled", "escalated", "paused", "resumed", "plan"
]
KINDS: frozenset[str] = frozenset(get_args(DecisionKind))
"""``planned``: a step put on the plan; ``scheduled``: a contact handed to notifier (contact.due);
``moved``: a contact shifted by a rule (detail ``from``/``to``/``rule``); ``suppressed``: a contact
that will not happen (no consent, opt-out); ``cancelled``: planned contacts dropped (paid, cured,
promise); ``escalated``: a broken promise or plan re-planned at once; ``paused``/``resumed``:
collection pauses; ``plan``: a payment plan's own events."""


@dataclass(frozen=True)
class Decision:
    account_id: str
    currency: str | None
    kind: str
    at: datetime
    contact_id: str | None = None
    channel: str | None = None
    reason: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)
    strategy: str | None = None
    strategy_version: int | None = None
    actor: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown decision kind {self.kind!r} (one of {sorted(KINDS)})")
        if self.at.tzinfo is None:
            raise ValueError("a decision's time must be timezone-aware")


HELD = "collection paused: in force"
"""The reason of a due step a pause holds (book.PAUSED's prefix, so a resume plans it again)."""


@dataclass(frozen=True)
class DueStep:
    """A planned contact whose time has come."""

    contact_id: str
    account_id: str
    currency: str
    channel: str
    kind: str
    playbook: str
    strategy_version: int | None = None


@dataclass(frozen=True)
class Debtor:
    """What the contact policy needs of the debtor behind an account."""

    timezone: str | None
    country: str
    history: History
    consents: Mapping[str, bool]
    open_promise_currencies: frozenset[str] = frozenset()
    paused: bool = False
    """a pause holds the account (one that raced the pause's cancelling of planned contacts)"""


@dataclass(frozen=True)
class StepOutcome:
    contact_id: str
    status: str
    """``due`` (announced for ``scheduled_for``) or ``skipped``"""
    scheduled_for: datetime | None
    reason: str | None
    decisions: tuple[Decision, ...]


def schedule_due_steps(
    steps: Sequence[DueStep],
    debtors: Mapping[str, Debtor],
    policies: Mapping[str, ContactPolicy],
    now: datetime,
    holidays_of: Callable[[str], HolidayCheck] = public_holidays,
) -> list[StepOutcome]:
    """Suppress, move and schedule due steps, an account's in planned order, one decision at a time.

    * an account a pause holds: the step is **cancelled** as held (a resume plans it again);
    * a channel without recorded consent (no row, or withdrawn) is **suppressed**, never used;
    * a dunning step while a promise to pay is open in its currency is **suppressed**;
    * any other is fitted by the debtor's preset (``contact_policy.fit``): **moved** when a rule
      pushed it (detail: from, to, the first rule and all of them), then **scheduled**. Each
      scheduled step counts in the history of the next, so a batch never books two for one day.
    """
    booked: dict[str, list[PastContact]] = {}
    out: list[StepOutcome] = []
    for step in steps:
        debtor = debtors[step.account_id]
        common: dict[str, Any] = {
            "contact_id": step.contact_id,
            "channel": step.channel,
            "strategy": step.playbook,
            "strategy_version": step.strategy_version,
        }
        if debtor.paused:
            held = _skipped(step, HELD, "pause.in_force", now, common)
            out.append(replace(held, status="cancelled"))
            continue
        consent = debtor.consents.get(step.channel)
        if consent is not True:
            why = (
                f"no recorded consent for {step.channel}"
                if consent is None
                else f"no consent for {step.channel}"
            )
            rule = "consent.none" if consent is None else "consent.refused"
            out.append(_skipped(step, why, rule, now, common))
            continue
        if step.kind == "dunning" and step.currency in debtor.open_promise_currencies:
            why = f"an open promise to pay in {step.currency}"
            out.append(_skipped(step, why, "promise.open", now, common))
            continue
        preset = preset_for(debtor.country, policies)
        policy, zone = for_zone(preset, debtor.timezone, debtor.country)
        mine = booked.setdefault(step.account_id, [])
        history = replace(debtor.history, contacts=(*debtor.history.contacts, *mine))
        fitted = fit(
            now,
            step.channel,
            timezone=zone,
            is_holiday=holidays_of(debtor.country),
            history=history,
            policy=policy,
        )
        mine.append(PastContact(step.channel, fitted.slot))
        made: list[Decision] = []
        if fitted.moves:
            first = fitted.moves[0].rule
            made.append(
                Decision(
                    step.account_id,
                    step.currency,
                    "moved",
                    now,
                    reason=f"moved to the next moment {policy.name} allows ({', '.join(fitted.rules)})",
                    detail={
                        "from": now,
                        "to": fitted.slot,
                        "rule": first,
                        "rules": list(fitted.rules),
                        "zone": zone,
                    },
                    **common,
                )
            )
        made.append(
            Decision(
                step.account_id,
                step.currency,
                "scheduled",
                now,
                reason=f"announced for {fitted.slot.isoformat()} under {policy.name}",
                detail={"scheduled_for": fitted.slot, "policy": policy.name, "zone": zone},
                **common,
            )
        )
        out.append(StepOutcome(step.contact_id, "due", fitted.slot, None, tuple(made)))
    return out


def _skipped(step: DueStep, why: str, rule: str, now: datetime, common: Mapping[str, Any]) -> StepOutcome:
    decision = Decision(
        step.account_id, step.currency, "suppressed", now, reason=why, detail={"rule": rule}, **common
    )
    return StepOutcome(step.contact_id, "skipped", None, why, (decision,))
