"""What strategy knows of the accounts a batch touches, and how each event changes it.

A batch handler reads the touched accounts' rows once (``adapters/repository.py``), applies the
batch's events to this book **in arrival order**, and writes back only what changed, one statement
per table. Applying the events one after another in memory is what keeps a batch exactly
equivalent to handling them one at a time: a promise settled before the next payment arrives
takes cash in the same order either way, and the same kept/broken outcomes come out, per event.

No I/O here: the rules are ``promises.py`` (cash toward promises), ``cure.py``, the playbooks and
``treatment.py`` (pauses, resuming, escalating); this module only says which rule runs on which
event, and records every effect: rows changed, timers to (re)arm or drop, outcomes to announce.

Holds: a contact is never planned live for a paused account (any kind), nor dunning for an
(account, currency) on an active payment plan: it is recorded ``cancelled`` with the hold as its
reason, and the end of the hold (a resume, the pause's last day over, a broken plan) plans again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from services.strategy.domain.decisions import Decision
from services.strategy.domain.playbooks import Playbook, Step, StrategyConfig
from services.strategy.domain.promises import (
    ZERO,
    AvailableCash,
    OpenPromise,
    PromiseStatus,
    is_kept,
    promise_deadline,
    settle,
    status_after_reversal,
)
from services.strategy.domain.treatment import (
    escalation_plan,
    is_paused,
    pause_ends_at,
    pause_in_force,
    resume_plan,
)

PROMISE_TIMER = "promise_deadline"
CONTACT_TIMER = "contact_step"
PAUSE_TIMER = "pause_end"
PAUSED = "collection paused: "
"""The reason prefix of contacts a pause holds (a resume plans them again)."""
MONEY = Decimal("0.0001")
"""What NUMERIC(18, 4) keeps: amounts in the book look exactly as they will when read back."""

ContactKind = Literal["pre_due", "dunning"]


def money(value: Decimal) -> Decimal:
    return value.quantize(MONEY)


def contact_key(*parts: str) -> str:
    """A contact id from its parts; hashed when it would not fit an Identifier (128 chars)."""
    key = ":".join(parts)
    return key if len(key) <= 128 else hashlib.sha256(key.encode()).hexdigest()


@dataclass
class Account:
    account_id: str
    customer_id: str | None = None
    timezone: str | None = None
    country: str | None = None
    segment: str | None = None


@dataclass
class Bucket:
    account_id: str
    currency: str
    bucket: str
    stage: str | None
    cured: bool
    entered_at: datetime


@dataclass
class Promise:
    promise_id: str
    account_id: str
    amount: Decimal
    paid_amount: Decimal
    currency: str
    due_on: date
    made_on: date
    deadline: datetime
    status: PromiseStatus
    resolved_at: datetime | None = None


@dataclass
class Payment:
    payment_id: str
    account_id: str
    currency: str
    amount: Decimal
    unapplied: Decimal
    paid_on: date
    arrived_at: datetime
    reversed_at: datetime | None = None


@dataclass
class Contact:
    contact_id: str
    account_id: str
    currency: str
    channel: str
    kind: str
    playbook: str
    step: str
    template: str
    language: str
    planned_for: datetime
    status: str
    reason: str | None = None
    scheduled_for: datetime | None = None
    strategy_version: int | None = None


@dataclass
class Pause:
    """A collection pause; in force while not ended and before ``ends_at`` (``treatment.py``)."""

    pause_id: str
    account_id: str
    reason: str
    until: date | None
    ends_at: datetime | None
    note: str | None
    agent_id: str | None
    started_at: datetime
    ended_at: datetime | None = None
    ended_by: str | None = None
    resumed_by: str | None = None


@dataclass
class PlanTreatment:
    """The payment plan an (account, currency) is on: ``active`` holds its dunning."""

    account_id: str
    currency: str
    plan_id: str
    status: Literal["active", "broken", "completed"]
    since: datetime


@dataclass(frozen=True)
class Outcome:
    """A promise kept or broken, as ``promise.kept`` / ``promise.broken`` announce it."""

    kind: Literal["kept", "broken"]
    promise_id: str
    account_id: str
    promised_amount: Decimal
    paid_amount: Decimal
    currency: str
    due_on: date


@dataclass(frozen=True)
class Facts:
    """What planning needs of an account: its zone and country (defaults filled in), its segment."""

    account_id: str
    timezone: str
    country: str
    segment: str | None


@dataclass(frozen=True)
class PlannedContact:
    contact_id: str
    currency: str
    kind: ContactKind
    playbook: str
    step: Step
    at: datetime
    version: int | None = None


@dataclass
class Book:
    """The touched accounts' state; every change is recorded for the repository to write back.

    ``contributions`` holds only what this batch counted (added to the stored rows on write);
    ``stored_contributions`` what the store had for the payments the batch reverses. ``timers``
    keeps the last word per (timer, key): a time to (re)arm it, ``None`` to drop it.
    """

    config: StrategyConfig
    now: datetime
    accounts: dict[str, Account] = field(default_factory=dict)
    buckets: dict[tuple[str, str], Bucket] = field(default_factory=dict)
    promises: dict[str, Promise] = field(default_factory=dict)
    payments: dict[str, Payment] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)
    pauses: dict[str, Pause] = field(default_factory=dict)
    plans: dict[tuple[str, str], PlanTreatment] = field(default_factory=dict)
    sent: dict[tuple[str, str], list[tuple[str, str, datetime]]] = field(default_factory=dict)
    """(account, currency) -> (playbook, step, planned_for) of its dunning sent (``due``), every
    episode's: which count is decided against the bucket as it is when a rule asks (``_sent``), so
    an ``account.aged`` earlier in the same batch starts a new episode exactly as it would had the
    rows been read after it"""
    versions: Mapping[str, int] = field(default_factory=dict)
    """the active version of each playbook in ``config`` (what every planned contact records)"""
    stored_contributions: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    consents: dict[tuple[str, str], bool] = field(default_factory=dict)
    consented_at: dict[tuple[str, str], datetime | None] = field(default_factory=dict)
    contributions: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    dropped_payments: set[str] = field(default_factory=set)
    timers: dict[tuple[str, str], datetime | None] = field(default_factory=dict)
    touched_accounts: set[str] = field(default_factory=set)
    changed_buckets: set[tuple[str, str]] = field(default_factory=set)
    changed_promises: set[str] = field(default_factory=set)
    changed_payments: set[str] = field(default_factory=set)
    changed_contacts: set[str] = field(default_factory=set)
    changed_pauses: set[str] = field(default_factory=set)
    changed_plans: set[tuple[str, str]] = field(default_factory=set)
    decisions: list[Decision] = field(default_factory=list)
    """every decision, in the order taken (the decision log, ``adapters/decisions.py``)"""

    def __post_init__(self) -> None:
        self._promises_of: dict[tuple[str, str], list[str]] = {}
        self._payments_of: dict[tuple[str, str], list[str]] = {}
        self._contacts_of: dict[str, list[str]] = {}
        self._buckets_of: dict[str, list[str]] = {}
        for p in self.promises.values():
            self._promises_of.setdefault((p.account_id, p.currency), []).append(p.promise_id)
        for x in self.payments.values():
            self._payments_of.setdefault((x.account_id, x.currency), []).append(x.payment_id)
        for c in self.contacts.values():
            self._contacts_of.setdefault(c.account_id, []).append(c.contact_id)
        for account_id, currency in self.buckets:
            self._buckets_of.setdefault(account_id, []).append(currency)
        self._pauses_of: dict[str, list[str]] = {}
        for pause in sorted(self.pauses.values(), key=lambda p: (p.started_at, p.pause_id)):
            self._pauses_of.setdefault(pause.account_id, []).append(pause.pause_id)

    def _decide(self, account_id: str, currency: str | None, kind: str, reason: str, **more: Any) -> None:
        if "detail" in more:
            more["detail"] = _in_utc(more["detail"])
        self.decisions.append(Decision(account_id, currency, kind, self.now, reason=reason[:1000], **more))

    # --- accounts ----------------------------------------------------------------------------

    def touch(self, account_id: str, **values: str | None) -> Facts:
        """Create or update an account (only the given columns) and return its planning facts."""
        account = self.accounts.get(account_id)
        if account is None:
            account = self.accounts[account_id] = Account(account_id)
        for name, value in values.items():
            setattr(account, name, value)
        self.touched_accounts.add(account_id)
        return Facts(
            account_id,
            account.timezone or self.config.default_timezone,
            account.country or self.config.default_country,
            account.segment,
        )

    def customer_upserted(
        self,
        customer_id: str,
        account_ids: Iterable[str],
        timezone: str | None,
        country: str | None,
        consent: Mapping[str, bool],
        consented_at: Mapping[str, datetime | None] | None = None,
    ) -> None:
        """Zone, country and per-channel consent for every account the customer names.

        ``consented_at`` is when the debtor gave each consent (the core system's
        ``consent_updated_at``): the store keeps an opt-out unless the consent came after it.
        """
        ids = sorted(set(account_ids))
        for account_id in ids:
            self.touch(account_id, customer_id=customer_id, timezone=timezone, country=country)
            for channel, ok in consent.items():
                self.consents[(account_id, channel)] = ok
                self.consented_at[(account_id, channel)] = (consented_at or {}).get(channel)

    # --- promises and cash ---------------------------------------------------------------------

    def promise_made(
        self, promise_id: str, account_id: str, amount: Decimal, currency: str, due_on: date, at: datetime
    ) -> list[Outcome]:
        facts = self.touch(account_id)
        if promise_id in self.promises:
            return []  # the same promise again (ids are the tenant's): nothing new
        deadline = promise_deadline(due_on, facts.timezone, self.config.promise_grace_days)
        made_on = at.astimezone(ZoneInfo(facts.timezone)).date()
        self.promises[promise_id] = Promise(
            promise_id, account_id, money(amount), money(ZERO), currency, due_on, made_on, deadline, "open"
        )
        self._promises_of.setdefault((account_id, currency), []).append(promise_id)
        self.changed_promises.add(promise_id)
        self.timers[(PROMISE_TIMER, promise_id)] = deadline
        return self._settle(account_id, currency)

    def payment_applied(
        self, payment_id: str, account_id: str, currency: str, cash: Decimal, applied_on: date, at: datetime
    ) -> list[Outcome]:
        """A payment's first application is its cash; later ones only move it (``promises.py``)."""
        if cash <= 0:
            return []
        self.touch(account_id)
        if payment_id in self.payments:
            return []
        self._add_payment(Payment(payment_id, account_id, currency, money(cash), money(cash), applied_on, at))
        return self._settle(account_id, currency)

    def payment_reversed(
        self, payment_id: str, account_id: str | None, currency: str, reversed_on: date, at: datetime
    ) -> list[Outcome]:
        """Take back what the payment counted; a tombstone when its cash was never seen."""
        if account_id is None:
            return []  # reversed while still in suspense: it never counted toward anything
        self.touch(account_id)
        payment = self.payments.get(payment_id)
        if payment is None:
            self._add_payment(
                Payment(payment_id, account_id, currency, money(ZERO), money(ZERO), reversed_on, at, self.now)
            )
        elif payment.reversed_at is None:
            payment.unapplied = money(ZERO)
            payment.reversed_at = self.now
            self.changed_payments.add(payment_id)
        taken = self._drop_contributions(payment_id)
        outcomes = self._take_back(taken) if taken else []
        return outcomes + self._settle(account_id, currency)

    def _add_payment(self, payment: Payment) -> None:
        self.payments[payment.payment_id] = payment
        self._payments_of.setdefault((payment.account_id, payment.currency), []).append(payment.payment_id)
        self.changed_payments.add(payment.payment_id)

    def _drop_contributions(self, payment_id: str) -> dict[str, Decimal]:
        """promise id -> what the payment had counted toward it (stored plus this batch's)."""
        taken: dict[str, Decimal] = {}
        for store in (self.stored_contributions, self.contributions):
            for key in [k for k in store if k[1] == payment_id]:
                taken[key[0]] = taken.get(key[0], ZERO) + store.pop(key)
        self.dropped_payments.add(payment_id)
        return taken

    def _take_back(self, taken: Mapping[str, Decimal]) -> list[Outcome]:
        """Rule 5: lower the paid amounts; a kept promise left short reopens or, past due, breaks."""
        outcomes: list[Outcome] = []
        for promise_id in sorted(taken):
            promise = self.promises.get(promise_id)
            if promise is None:
                continue
            paid = max(promise.paid_amount - taken[promise_id], ZERO)
            status = status_after_reversal(promise.status, promise.amount, paid, promise.deadline, self.now)
            if status == "open" and promise.status == "kept":
                self.timers[(PROMISE_TIMER, promise_id)] = promise.deadline
            if status == "broken" and promise.status == "kept":
                outcomes.append(_outcome("broken", promise, paid))
            resolved = (
                None if status == "open" else (promise.resolved_at if status == promise.status else self.now)
            )
            promise.paid_amount, promise.status, promise.resolved_at = paid, status, resolved
            self.changed_promises.add(promise_id)
        return outcomes

    def _settle(self, account_id: str, currency: str) -> list[Outcome]:
        """Count the available cash toward the promises of (account, currency); the kept ones come out.

        Candidates are the open promises and the broken ones whose deadline is later than some
        available cash: money applied before the deadline that strategy saw only after the
        deadline timer fired (consumer lag) still keeps the promise.
        """
        cash = [
            p
            for p in (self.payments[i] for i in sorted(self._payments_of.get((account_id, currency), ())))
            if p.unapplied > 0 and p.reversed_at is None
        ]
        if not cash:
            return []
        earliest = min(p.arrived_at for p in cash)
        candidates = [
            p
            for p in (self.promises[i] for i in sorted(self._promises_of.get((account_id, currency), ())))
            if p.status == "open" or (p.status == "broken" and p.deadline > earliest)
        ]
        if not candidates:
            return []
        result = settle(
            [OpenPromise(p.promise_id, p.amount, p.paid_amount, p.made_on, p.deadline) for p in candidates],
            [AvailableCash(p.payment_id, p.unapplied, p.paid_on, p.arrived_at) for p in cash],
        )
        for key, amount in result.contributions.items():
            self.contributions[key] = self.contributions.get(key, ZERO) + amount
        for payment_id, left in result.left.items():
            self.payments[payment_id].unapplied = left
            self.changed_payments.add(payment_id)
        outcomes: list[Outcome] = []
        for promise_id, paid in sorted(result.paid.items()):
            promise = self.promises[promise_id]
            promise.paid_amount = paid
            if is_kept(promise.amount, paid):
                promise.status, promise.resolved_at = "kept", self.now
                self.timers[(PROMISE_TIMER, promise_id)] = None
                outcomes.append(_outcome("kept", promise, paid))
            self.changed_promises.add(promise_id)
        return outcomes

    # --- buckets, segments and the contact plan ------------------------------------------------

    def invoice_issued(
        self,
        invoice_id: str,
        account_id: str,
        currency: str,
        due_on: date,
        *,
        customer_id: str,
        timezone: str | None,
        country: str | None,
    ) -> None:
        """Record the debtor's zone and plan the playbook's pre-due reminders for this invoice."""
        facts = self.touch(account_id, customer_id=customer_id, timezone=timezone, country=country)
        bucket = self.buckets.get((account_id, currency))
        playbook = self.config.playbook_for(facts.segment, bucket.bucket if bucket else None)
        zone = ZoneInfo(facts.timezone)
        planned: list[PlannedContact] = []
        for step in playbook.pre_due_steps:
            assert step.days_before_due is not None
            day = due_on - timedelta(days=step.days_before_due)
            at = datetime.combine(day, self.config.contact_time, tzinfo=zone)
            if at < self.now:
                continue
            contact_id = contact_key(account_id, invoice_id, step.name)
            planned.append(
                PlannedContact(
                    contact_id, currency, "pre_due", playbook.name, step, at, self.versions.get(playbook.name)
                )
            )
        self._plan(account_id, planned)

    def segment_changed(self, account_id: str, segment: str, at: datetime) -> None:
        """The segment's playbook replaces the pending dunning of every currency still overdue."""
        facts = self.touch(account_id, segment=segment)
        overdue = {
            currency: self.buckets[(account_id, currency)].bucket
            for currency in sorted(self._buckets_of.get(account_id, ()))
            if not self.buckets[(account_id, currency)].cured
        }
        self._replan_dunning(facts, overdue, at)

    def account_aged(
        self, account_id: str, currency: str, bucket: str, stage: str | None, cured: bool, at: datetime
    ) -> None:
        """The (account, currency)'s bucket: cured cancels that currency's dunning, overdue replans it."""
        facts = self.touch(account_id)
        key = (account_id, currency)
        if key not in self.buckets:
            self._buckets_of.setdefault(account_id, []).append(currency)
        self.buckets[key] = Bucket(account_id, currency, bucket, stage, cured, at)
        self.changed_buckets.add(key)
        if cured:
            self._cancel_planned(account_id, {currency: f"{currency} balance is current"})
            return
        self._replan_dunning(facts, {currency: bucket}, at)

    def _replan_dunning(self, facts: Facts, overdue: Mapping[str, str], entered_at: datetime) -> None:
        if not overdue:
            return  # nothing is overdue: a current account gets pre-due reminders, never dunning
        zone = ZoneInfo(facts.timezone)
        anchor = entered_at.astimezone(zone).date()
        books = {currency: self.config.playbook_for(facts.segment, b) for currency, b in overdue.items()}
        self._cancel_planned(
            facts.account_id, {c: f"replaced by playbook {book.name}" for c, book in books.items()}
        )
        planned: list[PlannedContact] = []
        for currency, playbook in sorted(books.items()):
            for step in playbook.dunning_steps:
                assert step.day is not None
                nominal = datetime.combine(
                    anchor + timedelta(days=step.day), self.config.contact_time, tzinfo=zone
                )
                contact_id = contact_key(
                    facts.account_id, currency, playbook.name, step.name, anchor.isoformat()
                )
                planned.append(
                    PlannedContact(
                        contact_id,
                        currency,
                        "dunning",
                        playbook.name,
                        step,
                        max(nominal, self.now),
                        self.versions.get(playbook.name),
                    )
                )
        self._plan(facts.account_id, planned)

    def _plan(self, account_id: str, planned: Sequence[PlannedContact]) -> None:
        """Plan steps (again); a contact already made (due or skipped) under the same id is left alone.

        A step a hold (a pause, a payment plan) covers is recorded cancelled with the hold as reason.
        """
        for p in planned:
            existing = self.contacts.get(p.contact_id)
            if existing is not None and existing.status not in ("planned", "cancelled"):
                continue
            hold = self._hold(account_id, p.currency, p.kind)
            contact = Contact(
                p.contact_id,
                account_id,
                p.currency,
                p.step.channel,
                p.kind,
                p.playbook,
                p.step.name,
                p.step.template,
                p.step.language,
                p.at,
                "planned" if hold is None else "cancelled",
                hold,
                existing.scheduled_for if existing else None,
                p.version,
            )
            if existing is None:
                self._contacts_of.setdefault(account_id, []).append(p.contact_id)
            elif existing.account_id != account_id:
                self._contacts_of[existing.account_id].remove(p.contact_id)
                self._contacts_of.setdefault(account_id, []).append(p.contact_id)
            self.contacts[p.contact_id] = contact
            self.changed_contacts.add(p.contact_id)
            self.timers[(CONTACT_TIMER, p.contact_id)] = p.at if hold is None else None
            self._decide(
                account_id,
                p.currency,
                "planned" if hold is None else "suppressed",
                f"{p.kind} step {p.step.name} of {p.playbook}" if hold is None else hold,
                contact_id=p.contact_id,
                channel=p.step.channel,
                detail={"step": p.step.name, "planned_for": p.at, "kind": p.kind},
                strategy=p.playbook,
                strategy_version=p.version,
            )

    def _cancel_planned(
        self, account_id: str, reasons: Mapping[str, str], kinds: tuple[str, ...] = ("dunning",)
    ) -> None:
        """Cancel the planned contacts of the given kinds and currencies (currency -> reason).

        In contact id order, the order the store reads them in: a contact planned earlier in the
        same batch is cancelled where it would be had it been read back (one event at a time).
        """
        for contact_id in sorted(self._contacts_of.get(account_id, ())):
            contact = self.contacts[contact_id]
            if contact.kind in kinds and contact.status == "planned" and contact.currency in reasons:
                contact.status, contact.reason = "cancelled", reasons[contact.currency][:200]
                self.changed_contacts.add(contact_id)
                self.timers[(CONTACT_TIMER, contact_id)] = None
                self._decide(
                    account_id,
                    contact.currency,
                    "cancelled",
                    contact.reason,
                    contact_id=contact_id,
                    channel=contact.channel,
                    detail={"step": contact.step, "planned_for": contact.planned_for},
                    strategy=contact.playbook,
                    strategy_version=contact.strategy_version,
                )

    # --- holds: pauses and payment plans ---------------------------------------------------------

    def _active_pauses(self, account_id: str) -> list[Pause]:
        pauses = (self.pauses[i] for i in self._pauses_of.get(account_id, ()))
        return [p for p in pauses if pause_in_force(p, self.now)]

    def is_paused(self, account_id: str) -> bool:
        return is_paused((self.pauses[i] for i in self._pauses_of.get(account_id, ())), self.now)

    def _hold(self, account_id: str, currency: str, kind: str) -> str | None:
        """Why no contact of this kind may be planned live now, if one may not."""
        active = self._active_pauses(account_id)
        if active:
            return f"{PAUSED}{active[0].reason}"
        plan = self.plans.get((account_id, currency))
        if kind == "dunning" and plan is not None and plan.status == "active":
            return f"on payment plan {plan.plan_id}"[:200]
        return None

    def _currencies(self, account_id: str) -> set[str]:
        contacts = (self.contacts[i] for i in self._contacts_of.get(account_id, ()))
        return {*self._buckets_of.get(account_id, ()), *(c.currency for c in contacts)}

    def collection_paused(
        self,
        pause_id: str,
        account_id: str,
        reason: str,
        until: date | None,
        note: str | None,
        agent_id: str | None,
        at: datetime,
    ) -> None:
        """Rule 1 of ``treatment.py``: hold every planned contact of the account until the pause ends."""
        facts = self.touch(account_id)
        if pause_id in self.pauses:
            return  # the same pause again
        ends_at = pause_ends_at(reason, until, facts.timezone)
        pause = Pause(pause_id, account_id, reason, until, ends_at, note, agent_id, at)
        if ends_at is not None and ends_at <= self.now:
            pause.ended_at, pause.ended_by = ends_at, "until"  # its last day is already over
        self.pauses[pause_id] = pause
        self._pauses_of.setdefault(account_id, []).append(pause_id)
        self.changed_pauses.add(pause_id)
        detail = {"pause_id": pause_id, "reason": reason, "until": until, "ends_at": ends_at, "note": note}
        if pause.ended_at is not None:
            self._decide(
                account_id, None, "paused", f"{reason} pause already over", detail=detail, actor=agent_id
            )
            return
        self._decide(
            account_id, None, "paused", f"collection paused: {reason}", detail=detail, actor=agent_id
        )
        if ends_at is not None:
            self.timers[(PAUSE_TIMER, pause_id)] = ends_at
        held = f"{PAUSED}{reason}"
        self._cancel_planned(
            account_id, dict.fromkeys(self._currencies(account_id), held), ("dunning", "pre_due")
        )

    def collection_resumed(self, account_id: str, agent_id: str | None) -> None:
        """An explicit resume ends every pause of the account (permanent ones too) and re-plans."""
        self.touch(account_id)
        ended = self._active_pauses(account_id)
        for pause in ended:
            pause.ended_at, pause.ended_by, pause.resumed_by = self.now, "resumed", agent_id
            self.changed_pauses.add(pause.pause_id)
            self.timers[(PAUSE_TIMER, pause.pause_id)] = None
            self._decide(
                account_id,
                None,
                "resumed",
                f"{pause.reason} pause ended by an explicit resume",
                detail={"pause_id": pause.pause_id},
                actor=agent_id,
            )
        if ended:
            self._resume(account_id)

    def pause_ended(self, pause_id: str) -> None:
        """The pause's last day is over (its timer): the account resumes unless another pause holds it."""
        pause = self.pauses.get(pause_id)
        if pause is None or pause.ended_at is not None or pause.ends_at is None or pause.ends_at > self.now:
            return
        self.touch(pause.account_id)
        pause.ended_at, pause.ended_by = pause.ends_at, "until"
        self.changed_pauses.add(pause_id)
        self._decide(
            pause.account_id,
            None,
            "resumed",
            f"{pause.reason} pause ended after its last day ({pause.until})",
            detail={"pause_id": pause_id},
        )
        self._resume(pause.account_id)

    def _episode(self, account_id: str, currency: str) -> tuple[Bucket, Playbook] | None:
        """The overdue bucket of (account, currency) and the playbook it calls for (None: not overdue)."""
        bucket = self.buckets.get((account_id, currency))
        if bucket is None or bucket.cured:
            return None
        segment = self.accounts[account_id].segment if account_id in self.accounts else None
        return bucket, self.config.playbook_for(segment, bucket.bucket)

    def _sent(self, account_id: str, currency: str, bucket: Bucket, playbook: str) -> set[str]:
        """Step names of ``playbook`` sent to (account, currency) since it entered its bucket."""
        since = bucket.entered_at - timedelta(days=1)
        names = {
            step
            for book, step, planned_for in self.sent.get((account_id, currency), ())
            if book == playbook and planned_for >= since
        }
        for contact_id in self._contacts_of.get(account_id, ()):
            c = self.contacts[contact_id]
            if (c.kind, c.status, c.currency, c.playbook) == ("dunning", "due", currency, playbook) and (
                c.planned_for >= since
            ):
                names.add(c.step)
        return names

    def _resume(self, account_id: str) -> None:
        """Rule 2 of ``treatment.py``: held reminders still ahead again, dunning from the account's state."""
        facts = self.touch(account_id)
        if self.is_paused(account_id):
            return
        for contact_id in self._contacts_of.get(account_id, ()):
            c = self.contacts[contact_id]
            if (
                c.kind == "pre_due"
                and c.status == "cancelled"
                and (c.reason or "").startswith(PAUSED)
                and c.planned_for > self.now
            ):
                c.status, c.reason = "planned", None
                self.changed_contacts.add(contact_id)
                self.timers[(CONTACT_TIMER, contact_id)] = c.planned_for
        zone = ZoneInfo(facts.timezone)
        planned: list[PlannedContact] = []
        for currency in sorted(self._buckets_of.get(account_id, ())):
            episode = self._episode(account_id, currency)
            if episode is None:
                continue
            bucket, playbook = episode
            anchor = bucket.entered_at.astimezone(zone).date()
            sent = self._sent(account_id, currency, bucket, playbook.name)
            steps, collapsed = resume_plan(
                playbook.dunning_steps, anchor, self.config.contact_time, zone, self.now, sent
            )
            for step in collapsed:
                contact = self.contacts.get(
                    contact_key(account_id, currency, playbook.name, step.name, anchor.isoformat())
                )
                if contact is not None and contact.status == "cancelled" and steps:
                    contact.reason = f"collapsed into {steps[0].step.name} on resume"[:200]
                    self.changed_contacts.add(contact.contact_id)
            for s in steps:
                contact_id = contact_key(account_id, currency, playbook.name, s.step.name, anchor.isoformat())
                planned.append(
                    PlannedContact(
                        contact_id,
                        currency,
                        "dunning",
                        playbook.name,
                        s.step,
                        s.at,
                        self.versions.get(playbook.name),
                    )
                )
        self._plan(account_id, planned)

    def escalate(self, account_id: str, currency: str, cause: str, why: str) -> bool:
        """Rule 3 of ``treatment.py`` (a broken promise or plan); False when nothing may escalate.

        Nothing escalates while the account is paused (its resume plans from the state), while
        another payment plan holds the currency, or when the currency is not overdue.
        """
        facts = self.touch(account_id)
        if self.is_paused(account_id):
            return False
        plan = self.plans.get((account_id, currency))
        if plan is not None and plan.status == "active":
            return False
        episode = self._episode(account_id, currency)
        if episode is None:
            return False
        bucket, playbook = episode
        zone = ZoneInfo(facts.timezone)
        anchor = bucket.entered_at.astimezone(zone).date()
        sent = self._sent(account_id, currency, bucket, playbook.name)
        steps = escalation_plan(
            playbook.dunning_steps, anchor, self.config.contact_time, zone, self.now, sent
        )
        self._decide(
            account_id,
            currency,
            "escalated",
            f"{why}: re-planned from step {steps[0].step.name} at once" if steps else why,
            detail={"steps": [{"step": s.step.name, "at": s.at} for s in steps], "sent": sorted(sent)},
            strategy=playbook.name,
            strategy_version=self.versions.get(playbook.name),
        )
        self._cancel_planned(account_id, {currency: f"replaced by escalation after {why}"})
        self._plan(
            account_id,
            [
                PlannedContact(
                    contact_key(account_id, currency, playbook.name, s.step.name, "escalated", cause),
                    currency,
                    "dunning",
                    playbook.name,
                    s.step,
                    s.at,
                    self.versions.get(playbook.name),
                )
                for s in steps
            ],
        )
        return bool(steps)

    def promise_broken(self, promise_id: str, account_id: str, currency: str) -> bool:
        """A broken promise (strategy's own ``promise.broken``) escalates its (account, currency)."""
        return self.escalate(account_id, currency, f"promise:{promise_id}", f"broken promise {promise_id}")

    def plan_agreed(self, plan_id: str, account_id: str, currency: str, at: datetime) -> None:
        """The plan's reminders replace dunning: the currency's planned dunning is held."""
        self.touch(account_id)
        self.plans[(account_id, currency)] = PlanTreatment(account_id, currency, plan_id, "active", at)
        self.changed_plans.add((account_id, currency))
        self._decide(
            account_id, currency, "plan", f"payment plan {plan_id} agreed: its reminders replace dunning"
        )
        self._cancel_planned(account_id, {currency: f"on payment plan {plan_id}"})

    def plan_broken(self, plan_id: str, account_id: str, currency: str, at: datetime) -> bool:
        """Collection resumes with escalation, as for a broken promise (unless a newer plan holds it)."""
        self.touch(account_id)
        current = self.plans.get((account_id, currency))
        if current is not None and current.plan_id != plan_id and current.status == "active":
            return False  # a newer plan replaced the broken one
        self.plans[(account_id, currency)] = PlanTreatment(account_id, currency, plan_id, "broken", at)
        self.changed_plans.add((account_id, currency))
        self._decide(account_id, currency, "plan", f"payment plan {plan_id} broken: collection resumes")
        return self.escalate(account_id, currency, f"plan:{plan_id}", f"broken payment plan {plan_id}")

    def plan_completed(self, plan_id: str, account_id: str, currency: str, at: datetime) -> None:
        self.touch(account_id)
        current = self.plans.get((account_id, currency))
        if current is not None and current.plan_id != plan_id:
            return
        self.plans[(account_id, currency)] = PlanTreatment(account_id, currency, plan_id, "completed", at)
        self.changed_plans.add((account_id, currency))
        self._decide(account_id, currency, "plan", f"payment plan {plan_id} completed")


def _in_utc(value: Any) -> Any:
    """Times in a decision's detail in UTC: the same text whether the book or the store wrote them."""
    kind = type(value)
    if kind is str or kind is int or value is None:
        return value  # the common leaves, before the (slower) abstract-class checks
    if kind is dict:
        return {k: _in_utc(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, Mapping):
        return {k: _in_utc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_in_utc(v) for v in value]
    return value


def _outcome(kind: Literal["kept", "broken"], promise: Promise, paid: Decimal) -> Outcome:
    return Outcome(
        kind, promise.promise_id, promise.account_id, promise.amount, paid, promise.currency, promise.due_on
    )
