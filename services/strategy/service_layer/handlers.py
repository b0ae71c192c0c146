"""strategy's handlers: promises to pay and the contact plan of each (account, currency).

Every row is the tenant's (``uow.tenant``): the same account or promise id in two tenants is two
accounts or promises. Money comes only from reconciliation's allocations (``payment.applied`` /
``payment.reversal_applied``), never from raw ``payment.received``.

``on_events`` is one batch handler for every type strategy consumes: it reads what the batch's
accounts hold once (``adapters/repository.py``, accounts locked first in account order), applies
the events in arrival order to that book (``domain/book.py``), writes back one statement per
table, (re)arms and drops timers in bulk and emits every outcome with its causing event, so ids,
correlation and causation are the ones handling the events one by one would give. A promise's
deadline and a planned contact fire in ``service_layer/timers.py``; a pause's end goes through
the same book as the events (``on_pause_ends``, a batch timer).

Treatment: strategy reads its own ``promise.broken`` (whether a deadline timer or a bounced
cheque broke it) and ``plan.broken`` to escalate, ``collection.paused`` / ``.resumed`` (from core
systems or from its own API) to hold and resume, ``plan.agreed`` / ``.completed`` for the plan
that replaces dunning. The playbooks that plan are the tenant's active versions
(``strategy_versions``, seeded from the packaged file as version 1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from libs.events.envelope import Envelope
from libs.events.payloads.accounts import AccountAged
from libs.events.payloads.allocations import PaymentApplied, PaymentReversalApplied
from libs.events.payloads.base import EventPayload
from libs.events.payloads.customers import CustomerUpserted
from libs.events.payloads.invoices import InvoiceIssued
from libs.events.payloads.promises import PromiseBroken, PromiseKept, PromiseMade
from libs.events.payloads.segments import SegmentChanged
from libs.events.payloads.treatment import (
    CollectionPaused,
    CollectionResumed,
    PlanAgreed,
    PlanBroken,
    PlanCompleted,
)
from libs.events.registry import DecodedEvent
from libs.runtime.timers import claim
from libs.runtime.uow import DueTimer, UnitOfWork
from services.strategy.adapters import decisions, repository
from services.strategy.config import bucket_stages, strategy_config
from services.strategy.domain.book import (
    CONTACT_TIMER,
    PAUSE_TIMER,
    PROMISE_TIMER,
    Book,
    Outcome,
    contact_key,
)
from services.strategy.domain.cure import is_cured

__all__ = [
    "CONSUMES",
    "CONTACT_TIMER",
    "PAUSE_TIMER",
    "PROMISE_TIMER",
    "on_events",
    "on_pause_ends",
    "pause_id_of",
]

CONSUMES: tuple[str, ...] = (
    "cobranza.promise.made",
    "cobranza.payment.applied",
    "cobranza.payment.reversal_applied",
    "cobranza.customer.upserted",
    "cobranza.invoice.issued",
    "cobranza.segment.changed",
    "cobranza.account.aged",
    "cobranza.promise.broken",
    "cobranza.collection.paused",
    "cobranza.collection.resumed",
    "cobranza.plan.agreed",
    "cobranza.plan.broken",
    "cobranza.plan.completed",
)
"""The event types ``on_events`` reads."""

PLANNING = (
    InvoiceIssued,
    SegmentChanged,
    AccountAged,
    PromiseBroken,
    CollectionPaused,
    CollectionResumed,
    PlanAgreed,
    PlanBroken,
)
"""Payloads that read (and may change) the account's buckets and contact plan."""


def pause_id_of(envelope: Envelope) -> str:
    """A pause's id: its event's (ids are unique per tenant and source), whoever sent it."""
    return contact_key("pause", envelope.source, envelope.id)


CONTACT_LOOKBACK = timedelta(days=3)
"""A done (due, skipped) or cancelled contact shares an id with one a batch plans only if it was
planned for less than two days before the batch's earliest event (a dunning step of the same
anchor date, zones apart) or before now (a pre-due reminder planned again in another zone):
older ones are not read."""


def _touched(payload: Any) -> list[str]:
    """The accounts an event touches (and so locks), as the book will: known from the payload alone."""
    if isinstance(payload, CustomerUpserted):
        return list(payload.account_ids)
    if isinstance(payload, PaymentApplied):
        return [payload.account_id] if payload.amount_applied + payload.credit_created > 0 else []
    if isinstance(payload, PaymentReversalApplied):
        return [payload.account_id] if payload.account_id is not None else []
    return [payload.account_id]


def scope_of(events: Sequence[DecodedEvent[Any]], now: datetime) -> repository.Scope:
    accounts: set[str] = set()
    planning: set[str] = set()
    promise_ids: set[str] = set()
    payment_ids: set[str] = set()
    reversed_ids: set[str] = set()
    pause_ids: set[str] = set()
    for event in events:
        payload = event.payload
        touched = _touched(payload)
        accounts.update(touched)
        if isinstance(payload, PLANNING):
            planning.update(touched)
        if isinstance(payload, CollectionPaused):
            pause_ids.add(pause_id_of(event.envelope))
        elif isinstance(payload, PromiseMade):
            promise_ids.add(payload.promise_id)
        elif isinstance(payload, PaymentApplied) and touched:
            payment_ids.add(payload.payment_id)
        elif isinstance(payload, PaymentReversalApplied) and touched:
            payment_ids.add(payload.payment_id)
            reversed_ids.add(payload.payment_id)
    earliest = min([now, *(e.envelope.time for e in events)])
    return repository.Scope(
        sorted(accounts),
        sorted(planning),
        sorted(promise_ids),
        sorted(payment_ids),
        sorted(reversed_ids),
        earliest - CONTACT_LOOKBACK,
        sorted(pause_ids),
    )


def _book(uow: UnitOfWork, scope: repository.Scope) -> Book:
    """The scope's book (its accounts locked first), planned with the tenant's active playbook versions."""
    config = strategy_config(uow.extras)
    book = repository.load(uow.session, uow.tenant, scope, config, uow.now())
    active = repository.active_strategies(uow.session, uow.tenant, config, uow.now())
    book.config = replace(config, playbooks=active.playbooks)
    book.versions = active.versions
    return book


def on_events(events: Sequence[DecodedEvent[Any]], uow: UnitOfWork) -> None:
    """Every event strategy consumes, a poll batch of one tenant at a time (see the module docstring)."""
    scope = scope_of(events, uow.now())
    if not scope.accounts:
        return  # nothing but cash that adds nothing and reversals still in suspense
    book = _book(uow, scope)
    stages: Callable[[], Any] = lambda: bucket_stages(uow.extras, uow.tenant)  # noqa: E731
    payloads: list[EventPayload] = []
    causes: list[Envelope | None] = []
    decided: list[str | None] = []
    for event in events:
        for outcome in _apply(book, event, stages):
            payloads.append(_announce(outcome))
            causes.append(event.envelope)
        decided += [event.envelope.id] * (len(book.decisions) - len(decided))
    repository.save(uow.session, uow.tenant, book)
    decisions.record(uow.session, uow.tenant, book.decisions, causes=decided)
    _write_timers(uow, book)
    uow.emit_many(payloads, causes=causes)


def _apply(book: Book, event: DecodedEvent[Any], stages: Callable[[], Any]) -> list[Outcome]:
    payload, at = event.payload, event.envelope.time
    if isinstance(payload, PromiseMade):
        return book.promise_made(
            payload.promise_id, payload.account_id, payload.amount, payload.currency, payload.due_on, at
        )
    if isinstance(payload, PaymentApplied):
        cash = payload.amount_applied + payload.credit_created
        return book.payment_applied(
            payload.payment_id, payload.account_id, payload.currency, cash, payload.applied_on, at
        )
    if isinstance(payload, PaymentReversalApplied):
        return book.payment_reversed(
            payload.payment_id, payload.account_id, payload.currency, payload.reversed_on, at
        )
    if isinstance(payload, CustomerUpserted):
        consent: dict[str, bool] = {}
        consented_at: dict[str, datetime | None] = {}
        for point in payload.contact_points:
            consent[point.channel] = consent.get(point.channel, False) or point.consent
            if point.consent and point.consent_updated_at is not None:
                given = point.consent_updated_at
                given = given if given.tzinfo is not None else given.replace(tzinfo=UTC)
                earlier = consented_at.get(point.channel)
                consented_at[point.channel] = given if earlier is None else max(earlier, given)
        book.customer_upserted(
            payload.customer_id,
            payload.account_ids,
            payload.timezone,
            payload.country,
            dict(sorted(consent.items())),
            consented_at,
        )
    elif isinstance(payload, InvoiceIssued):
        book.invoice_issued(
            payload.invoice_id,
            payload.account_id,
            payload.currency,
            payload.due_on,
            customer_id=payload.customer.customer_id,
            timezone=payload.customer.timezone,
            country=payload.customer.country,
        )
    elif isinstance(payload, SegmentChanged):
        book.segment_changed(payload.account_id, payload.segment, at)
    elif isinstance(payload, AccountAged):
        known = stages() if payload.stage is None else {}
        cured = is_cured(payload.stage, payload.bucket, payload.days_past_due, known)
        book.account_aged(payload.account_id, payload.currency, payload.bucket, payload.stage, cured, at)
    elif isinstance(payload, PromiseBroken):
        book.promise_broken(payload.promise_id, payload.account_id, payload.currency)
    elif isinstance(payload, CollectionPaused):
        book.collection_paused(
            pause_id_of(event.envelope),
            payload.account_id,
            payload.reason,
            payload.until,
            payload.note,
            payload.agent_id,
            at,
        )
    elif isinstance(payload, CollectionResumed):
        book.collection_resumed(payload.account_id, payload.agent_id)
    elif isinstance(payload, PlanAgreed):
        book.plan_agreed(payload.plan_id, payload.account_id, payload.currency, at)
    elif isinstance(payload, PlanBroken):
        book.plan_broken(payload.plan_id, payload.account_id, payload.currency, at)
    elif isinstance(payload, PlanCompleted):
        book.plan_completed(payload.plan_id, payload.account_id, payload.currency, at)
    return []


def _announce(outcome: Outcome) -> PromiseKept | PromiseBroken:
    kind = PromiseKept if outcome.kind == "kept" else PromiseBroken
    return kind(
        promise_id=outcome.promise_id,
        account_id=outcome.account_id,
        promised_amount=outcome.promised_amount,
        paid_amount=outcome.paid_amount,
        currency=outcome.currency,
        due_on=outcome.due_on,
    )


def _write_timers(uow: UnitOfWork, book: Book) -> None:
    """The last word per timer: re-armed in one upsert, dropped in one delete, per timer name."""
    armed: dict[str, list[tuple[str, datetime]]] = {
        name: [] for name in (PROMISE_TIMER, CONTACT_TIMER, PAUSE_TIMER)
    }
    dropped: dict[str, list[str]] = {name: [] for name in armed}
    for (name, key), at in book.timers.items():
        if at is None:
            dropped[name].append(key)
        else:
            armed[name].append((key, at))
    for name in armed:
        uow.cancel_many(name, dropped[name])
        uow.schedule_many(name, armed[name])


# --- timers ----------------------------------------------------------------------------------


def on_pause_ends(due: Sequence[DueTimer], uow: UnitOfWork) -> None:
    """Pauses whose last day is over (one tenant's batch): each account resumes at the step its
    state calls for.

    The same path as the events: the accounts are locked first (in account order, by ``load``),
    then the timers claimed (those re-armed or fired meanwhile are not this transaction's), then
    the book decides, and its rows, timers and decisions are written once for the batch.
    """
    owners = repository.pause_owners(uow.session, uow.tenant, [d.key for d in due])
    now = uow.now()
    accounts = sorted(set(owners.values()))
    book = _book(
        uow, repository.Scope(accounts, accounts, [], [], [], now - CONTACT_LOOKBACK, sorted(owners))
    )
    for timer in claim(uow, due):
        book.pause_ended(timer.key)
    repository.save(uow.session, uow.tenant, book)
    decisions.record(uow.session, uow.tenant, book.decisions)
    _write_timers(uow, book)
