"""aging's handlers: one batch handler for invoices and allocations, and the nightly pass.

Payments reach aging only through reconciliation's allocation events
(``cobranza.payment.applied`` / ``cobranza.payment.reversal_applied``): they *set*
what is settled on each invoice, so a redelivery can never count a payment twice,
and the open amount is ``max(amount - settled, 0)`` whatever order the invoices and
allocations topics arrive in (services/aging/domain/ledger.py).

A batch is handled set-based: the invoices and early amounts it names are read and
locked in one statement each, its events are applied in order to a
:class:`~services.aging.domain.ledger.Ledger`, and the result is written back and
re-aged with the nightly pass's SQL (``repository.reage``): two statements per *round*
(the writes, then the re-age of every invoice and account the round touched). Round k holds the k-th event of each account, so every account is
re-aged after each of its events exactly as one event at a time would (the same
``account.aged`` and lapse events, caused by the same event), and a batch of many
accounts with one event each is a single round. Every row is the tenant's (``uow.tenant``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date

from libs.events.envelope import Envelope
from libs.events.payloads.accounts import (
    AccountAged,
    PolicyLapseCancelled,
    PolicyLapsed,
    PolicyLapseScheduled,
)
from libs.events.payloads.allocations import PaymentApplied, PaymentReversalApplied
from libs.events.payloads.base import EventPayload
from libs.events.payloads.invoices import InvoiceAdjusted, InvoiceCancelled, InvoiceIssued
from libs.events.registry import DecodedEvent, InvalidEvent
from libs.runtime.uow import DueTimer, UnitOfWork
from services.aging.adapters.repository import (
    LapseChange,
    ReageResult,
    Scope,
    early_for_update,
    has_open_invoices,
    invoices_for_update,
    pending_timers_at,
    reage,
    write_early,
    write_round,
)
from services.aging.config import scheme_for
from services.aging.domain.ledger import ZERO, Invoice, Ledger, Rejected, Settlement
from services.aging.domain.rules import BucketScheme, local_date, next_local_midnight

MIDNIGHT_TIMER = "midnight"


def timer_key(tenant: str, timezone: str) -> str:
    return f"{tenant}|{timezone}"


def _lapse_reason(change: LapseChange) -> str:
    if change.status != "open":
        return "invoice_cancelled"
    if change.open_amount <= 0:
        return "paid"
    return "not_overdue"


def publish(result: ReageResult, uow: UnitOfWork) -> None:
    """Announce what a re-age changed: bucket changes only, and policy lapse milestones."""
    uow.emit_many(_announcements(result))


def _announcements(result: ReageResult) -> Iterator[EventPayload]:
    for t in result.transitions:
        yield AccountAged(
            account_id=t.account_id,
            bucket=t.to_bucket,
            days_past_due=t.dpd,
            overdue_amount=t.overdue_amount,
            currency=t.currency,
            previous_bucket=t.from_bucket,
            stage=t.to_stage,
            previous_stage=t.from_stage,
        )
    for c in result.lapse_cancelled:
        yield PolicyLapseCancelled(
            policy_number=c.policy_number,
            account_id=c.account_id,
            invoice_id=c.invoice_id,
            lapse_on=c.lapse_on,
            reason=_lapse_reason(c),  # type: ignore[arg-type]
        )
    for c in result.lapse_scheduled:
        yield PolicyLapseScheduled(
            policy_number=c.policy_number,
            account_id=c.account_id,
            invoice_id=c.invoice_id,
            due_on=c.due_on,
            lapse_on=c.lapse_on,
            grace_days=c.grace_days,
            product_line=c.product_line,
            open_amount=c.open_amount,
            currency=c.currency,
        )
    for c in result.lapsed:
        yield PolicyLapsed(
            policy_number=c.policy_number,
            account_id=c.account_id,
            invoice_id=c.invoice_id,
            lapse_on=c.lapse_on,
            open_amount=c.open_amount,
            currency=c.currency,
        )


AgingEvent = InvoiceIssued | InvoiceAdjusted | InvoiceCancelled | PaymentApplied | PaymentReversalApplied


@dataclass
class _Round:
    """What one round writes and re-ages: at most one event per account."""

    causes: dict[str, int] = field(default_factory=dict)
    """account id -> index (in the batch) of the event that re-ages it in this round"""
    invoices: dict[str, Invoice] = field(default_factory=dict)
    opened: dict[tuple[str, str], tuple[str, date]] = field(default_factory=dict)
    """(account, currency) an invoice was issued in -> (debtor's timezone, local date now)"""


def _settlements(payload: PaymentApplied | PaymentReversalApplied) -> list[Settlement]:
    lines = payload.allocations if isinstance(payload, PaymentApplied) else payload.reopened
    return [Settlement(x.invoice_id, x.invoice_open_amount_after, x.invoice_settled_after) for x in lines]


def _apply(
    ledger: Ledger, event: DecodedEvent[AgingEvent], scheme: BucketScheme
) -> tuple[list[Invoice], set[str]]:
    """Apply one event to the ledger: the invoices it changed and the accounts to re-age after it."""
    p = event.payload
    if isinstance(p, InvoiceIssued):
        timezone = p.customer.timezone
        created = ledger.issue(
            Invoice(
                invoice_id=p.invoice_id,
                account_id=p.account_id,
                amount=p.amount,
                settled=ZERO,
                settled_at=None,
                currency=p.currency,
                due_on=p.due_on,
                timezone=timezone,
                product_line=p.product_line,
                policy_number=p.policy_number,
                grace_days=scheme.grace_for(p.product_line),
            )
        )
        return ([created] if created else []), {p.account_id}
    if isinstance(p, InvoiceAdjusted):
        changed = ledger.adjust(p.invoice_id, p.currency, p.new_amount, p.new_due_on)
        return [changed], {changed.account_id}
    if isinstance(p, InvoiceCancelled):
        changed = ledger.cancel(p.invoice_id)
        return [changed], {changed.account_id}
    named = ledger.settle(_settlements(p), event.envelope.time, p.account_id, p.payment_id)
    return named, {i.account_id for i in named}


def on_events(events: Sequence[DecodedEvent[AgingEvent]], uow: UnitOfWork) -> None:
    """Every invoice and allocation event of a batch, set-based (see the module docstring)."""
    tenant, now, session = uow.tenant, uow.now(), uow.session
    scheme = scheme_for(uow.extras, tenant)
    named = {invoice_id for e in events for invoice_id in _named(e.payload)}
    issued = {e.payload.invoice_id for e in events if isinstance(e.payload, InvoiceIssued)}
    known = invoices_for_update(session, tenant, named)
    waiting = named - {i.invoice_id for i in known} | issued  # early amounts: compared by time, or taken
    ledger = Ledger.of(known, early_for_update(session, tenant, waiting))

    rounds: list[_Round] = []
    depth: dict[str, int] = {}
    timezones: dict[str, None] = {}
    for index, event in enumerate(events):
        try:
            changed, accounts = _apply(ledger, event, scheme)
        except Rejected as exc:
            raise InvalidEvent(str(exc), event.envelope) from exc
        if not accounts:
            continue
        k = max(depth.get(a, -1) for a in accounts) + 1
        if k == len(rounds):
            rounds.append(_Round())
        round_ = rounds[k]
        for account in accounts:
            depth[account] = k
            round_.causes[account] = index
        round_.invoices.update((i.invoice_id, i) for i in changed)
        p = event.payload
        if isinstance(p, InvoiceIssued):
            timezone = p.customer.timezone
            round_.opened[(p.account_id, p.currency)] = (timezone, local_date(now, timezone))
            timezones[timezone] = None

    payloads: list[EventPayload] = []
    causes: list[Envelope] = []
    for round_ in rounds:
        write_round(
            session,
            tenant,
            list(round_.invoices.values()),
            [(a, c, tz, d) for (a, c), (tz, d) in round_.opened.items()],
            scheme.current,
            now,
        )
        result = reage(session, Scope(tenant, account_ids=tuple(sorted(round_.causes))), scheme, now)
        for index, share in sorted(_by_cause(result, round_.causes).items()):
            for payload in _announcements(share):
                payloads.append(payload)
                causes.append(events[index].envelope)
    write_early(session, tenant, ledger.early_new(), ledger.early_gone(), now)
    _ensure_midnight_timers(uow, timezones)
    uow.emit_many(payloads, causes=causes)


def _named(payload: AgingEvent) -> list[str]:
    """The stored invoices an event needs (an issued invoice is new, or re-sent and left as it is)."""
    if isinstance(payload, PaymentApplied | PaymentReversalApplied):
        return [s.invoice_id for s in _settlements(payload)]
    if isinstance(payload, InvoiceAdjusted | InvoiceCancelled):
        return [payload.invoice_id]
    return []


def _by_cause(result: ReageResult, causes: dict[str, int]) -> dict[int, ReageResult]:
    """Split a round's re-age by the event that caused each account's part, keeping its order."""
    shares: dict[int, ReageResult] = {}

    def share(account_id: str) -> ReageResult:
        return shares.setdefault(causes[account_id], ReageResult())

    for t in result.transitions:
        share(t.account_id).transitions.append(t)
    for c in result.lapse_cancelled:
        share(c.account_id).lapse_cancelled.append(c)
    for c in result.lapse_scheduled:
        share(c.account_id).lapse_scheduled.append(c)
    for c in result.lapsed:
        share(c.account_id).lapsed.append(c)
    return shares


def _ensure_midnight_timers(uow: UnitOfWork, timezones: Iterable[str]) -> None:
    """Keep one nightly timer per (tenant, timezone) in use; never postpone one already due."""
    wanted = {timer_key(uow.tenant, tz): next_local_midnight(uow.now(), tz) for tz in timezones}
    pending = pending_timers_at(uow.session, uow.tenant, MIDNIGHT_TIMER, wanted)
    uow.schedule_many(
        MIDNIGHT_TIMER,
        ((key, at) for key, at in sorted(wanted.items()) if key not in pending or pending[key] > at),
    )


def on_midnight(due: DueTimer, uow: UnitOfWork) -> None:
    """The nightly pass for one tenant's timezone: re-age every open invoice and account there."""
    tenant, timezone = due.key.split("|", 1)
    scheme = scheme_for(uow.extras, tenant)
    publish(reage(uow.session, Scope(tenant, timezone=timezone), scheme, uow.now()), uow)
    if has_open_invoices(uow.session, tenant, timezone):
        uow.schedule(MIDNIGHT_TIMER, due.key, next_local_midnight(uow.now(), timezone))
