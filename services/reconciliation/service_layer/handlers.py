"""reconciliation's batch handler: lock what the batch touches, let the books decide, write back, emit.

One handler takes every event of a poll batch (one tenant, arrival order) and works set-based:

1. advisory locks on every reference key the batch may resolve or create (new invoices' ids,
   natural ids and policy numbers; remittances of payments without account), in one stable order,
   so "an invoice with this number arrives" and "a payment naming it is parked" never miss each
   other across workers;
2. one unlocked read of the payments the batch names and one of the invoices its remittances
   name, to know every account it may touch; the accounts' rows are created (not yet known) and
   locked in id order, so two replicas never deadlock;
3. one locked read per table: the accounts' open invoices (and those the batch names by id or
   reverses), credit lots, the allocations reversals and resizes need, the parked payments
   arrivals may place; and what each invoice has settled;
4. ``Books`` applies the events in order (a second payment of an account sees the first one's
   effect) and the result is written back in one statement per table and emitted with
   ``emit_many``, each event caused by the event it answers (ids, correlation, causation).

A payment goes to suspense when nobody knows whose it is: it names an account no invoice or
customer link ever mentioned (never credit on a phantom account), or its remittance names no
invoice or policy of the tenant (or several accounts'). The arrival that makes it identifiable
places it in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from libs.events.envelope import Envelope
from libs.events.payloads.allocations import (
    InvoiceAllocation,
    PaymentApplied,
    PaymentReversalApplied,
    PaymentUnapplied,
    ReopenedInvoice,
)
from libs.events.payloads.base import EventPayload
from libs.events.payloads.customers import CustomerUpserted
from libs.events.payloads.invoices import InvoiceAdjusted, InvoiceCancelled, InvoiceIssued
from libs.events.payloads.payments import PaymentReceived, PaymentReversed
from libs.events.registry import DecodedEvent, InvalidEvent
from libs.runtime.uow import UnitOfWork
from services.reconciliation.adapters import repository as repo
from services.reconciliation.config.tolerances import load_tolerances
from services.reconciliation.domain.books import (
    AccountRecord,
    AllocationRecord,
    Announcement,
    Applied,
    Books,
    CreditRecord,
    InvoiceRecord,
    NewInvoice,
    NewPayment,
    Parked,
    PaymentRecord,
    Rejected,
    new_invoice_keys,
)
from services.reconciliation.domain.model import ZERO, Application

ISSUED = "cobranza.invoice.issued"
ADJUSTED = "cobranza.invoice.adjusted"
CANCELLED = "cobranza.invoice.cancelled"
RECEIVED = "cobranza.payment.received"
REVERSED = "cobranza.payment.reversed"
CUSTOMER = "cobranza.customer.upserted"


def applied_event(
    application: Application,
    applied_on: date,
    credit_balance_after: Decimal,
    settled_after: Sequence[Decimal],
) -> PaymentApplied:
    written_off = application.written_off
    return PaymentApplied(
        payment_id=application.payment_id,
        account_id=application.account_id,
        currency=application.currency,
        amount_applied=application.amount_applied,
        allocations=[
            InvoiceAllocation(
                invoice_id=a.invoice_id,
                amount=a.amount,
                invoice_open_amount_after=a.open_after,
                written_off=a.written_off,
                invoice_settled_after=settled,
            )
            for a, settled in zip(application.allocations, settled_after, strict=True)
        ],
        credit_created=application.credit_created,
        credit_balance_after=credit_balance_after,
        rule=application.rule,
        matched_by=application.matched_by,
        applied_on=applied_on,
        written_off=written_off if written_off > 0 else None,
    )


def emit_applied(uow: UnitOfWork, application: Application, applied_on: date) -> None:
    """Announce an application after it was persisted (credit balance and settled sums read back)."""
    session, tenant = uow.session, uow.tenant
    balance = repo.credit_total(session, tenant, application.account_id, application.currency)
    settled = repo.settled_amounts(session, tenant, [a.invoice_id for a in application.allocations])
    uow.emit(
        applied_event(
            application,
            applied_on,
            balance,
            [settled.get(a.invoice_id, ZERO) for a in application.allocations],
        )
    )


def _announce(announcement: Announcement, reason: str) -> EventPayload:
    if isinstance(announcement, Applied):
        return applied_event(
            announcement.application,
            announcement.applied_on,
            announcement.credit_balance_after,
            announcement.settled_after,
        )
    if isinstance(announcement, Parked):
        return PaymentUnapplied(
            payment_id=announcement.payment_id,
            amount=announcement.amount,
            currency=announcement.currency,
            reason=announcement.reason,
            received_on=announcement.received_on,
        )
    return PaymentReversalApplied(
        payment_id=announcement.payment_id,
        account_id=announcement.account_id,
        currency=announcement.currency,
        reopened=[
            ReopenedInvoice(
                invoice_id=item.invoice_id,
                amount=item.amount,
                invoice_open_amount_after=item.open_after,
                invoice_settled_after=settled,
            )
            for item, settled in announcement.reopened
        ],
        credit_removed=announcement.credit_removed,
        credit_balance_after=announcement.credit_balance_after,
        reversed_on=announcement.reversed_on,
        reason=reason,
    )


def _local_today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def _new_invoice(inv: InvoiceIssued) -> NewInvoice:
    return NewInvoice(
        inv.invoice_id,
        inv.account_id,
        inv.currency,
        inv.amount,
        inv.issued_on,
        inv.due_on,
        inv.customer.customer_id,
        inv.customer.name,
        inv.policy_number,
        inv.natural_id,
    )


def _new_payment(p: PaymentReceived) -> NewPayment:
    return NewPayment(
        p.payment_id,
        p.account_id,
        p.currency,
        p.amount,
        p.received_on,
        p.method,
        p.method_detail,
        p.reference,
        p.payer_name,
    )


def _invoice_record(row: Any) -> InvoiceRecord:
    return InvoiceRecord(
        row.invoice_id,
        row.account_id,
        row.currency,
        row.amount,
        row.open_amount,
        row.issued_on,
        row.due_on,
        row.status,
        row.policy_number,
        row.natural_id,
    )


def _payment_record(row: Any) -> PaymentRecord:
    return PaymentRecord(
        row.payment_id,
        row.claimed_account_id,
        row.account_id,
        row.currency,
        row.amount,
        row.received_on,
        row.status,
        row.reference,
        row.method,
        row.method_detail,
        row.payer_name,
        row.rule,
        row.suspense_reason,
        row.reversed_on,
        indexed=row.claimed_account_id is None,
    )


def load_books(uow: UnitOfWork, events: Sequence[DecodedEvent[Any]]) -> Books:
    """Everything the batch may touch, locked in a stable order (keys, accounts, then rows)."""
    session, tenant, now = uow.session, uow.tenant, uow.now()
    issued = [e.payload for e in events if e.envelope.type == ISSUED]
    received = [e.payload for e in events if e.envelope.type == RECEIVED]
    resized = [e.payload for e in events if e.envelope.type in (ADJUSTED, CANCELLED)]
    reversed_ids = {e.payload.payment_id for e in events if e.envelope.type == REVERSED}
    customers = [e.payload for e in events if e.envelope.type == CUSTOMER]
    linked = {i.account_id for i in issued} | {a for c in customers for a in c.account_ids}
    invoice_keys = {k for i in issued for k in new_invoice_keys(_new_invoice(i))}
    remittances = [p.reference for p in received if p.account_id is None and p.reference]

    repo.lock_reference_keys(
        session, tenant, invoice_keys | {k for r in remittances for k in repo.searchable_keys(r)}
    )
    seen = repo.payment_rows(session, tenant, {p.payment_id for p in received} | reversed_ids)
    known_ids = {r.payment_id for r in seen}
    named = repo.invoice_rows_by_reference(session, tenant, remittances)
    claimed = {p.account_id for p in received if p.account_id is not None and p.payment_id not in known_ids}
    wanted = (
        linked
        | claimed
        | {r.account_id for r in named}
        | {r.account_id for r in seen if r.account_id is not None}
        | {r.account_id for r in resized}
    )
    repo.ensure_accounts(session, tenant, linked | claimed, now)
    account_rows = repo.lock_account_rows(session, tenant, wanted)
    locked = {r.account_id for r in account_rows}
    payment_rows = repo.payment_rows(session, tenant, known_ids, lock=True)
    moved = {r.account_id for r in payment_rows if r.account_id is not None} - locked - wanted
    if moved:  # placed from suspense by another worker meanwhile: its account is locked too
        account_rows += repo.lock_account_rows(session, tenant, moved)
        locked |= moved
        payment_rows = repo.payment_rows(session, tenant, known_ids, lock=True)

    resized_ids = {r.invoice_id for r in resized}
    allocation_rows = repo.lock_allocation_rows(session, tenant, reversed_ids, resized_ids)
    invoice_rows = repo.lock_invoice_rows(
        session,
        tenant,
        locked,
        {i.invoice_id for i in issued} | resized_ids | {r.invoice_id for r in allocation_rows},
    )
    credit_rows = repo.lock_credit_rows(session, tenant, locked)
    parked_rows = repo.lock_parked_rows(session, tenant, linked, invoice_keys)
    waiting = {r.payment_id for r in payment_rows}
    extra = [r.reference for r in parked_rows if r.claimed_account_id is None and r.reference]
    outside = repo.invoice_rows_by_reference(session, tenant, extra) if extra else []

    invoices = {r.invoice_id: _invoice_record(r) for r in (*named, *outside)}
    invoices.update((r.invoice_id, _invoice_record(r)) for r in invoice_rows)
    payments = {r.payment_id: _payment_record(r) for r in parked_rows if r.payment_id not in waiting}
    payments.update((r.payment_id, _payment_record(r)) for r in payment_rows)
    settled = repo.settled_amounts(
        session,
        tenant,
        {r.invoice_id for r in invoice_rows if r.status != "cancelled"}
        | {r.invoice_id for r in allocation_rows},
    )
    table = load_tolerances(uow.extras)
    return Books(
        accounts={
            r.account_id: AccountRecord(r.account_id, r.known, r.customer_id, r.customer_name)
            for r in account_rows
        },
        invoices=invoices,
        payments=payments,
        credits={
            r.payment_id: CreditRecord(r.payment_id, r.account_id, r.currency, r.amount, r.received_on)
            for r in credit_rows
        },
        allocations=[
            AllocationRecord(
                r.id,
                r.payment_id,
                r.invoice_id,
                r.account_id,
                r.currency,
                r.amount,
                r.written_off,
                r.rule,
                r.applied_on,
            )
            for r in allocation_rows
        ],
        settled=settled,
        tolerance_for=lambda currency: table.for_(tenant, currency),
        key_length=repo.KEY_LENGTH,
        received_dates={r.payment_id: r.received_on for r in allocation_rows},
    )


def _apply(books: Books, event: DecodedEvent[Any], now: datetime) -> list[Announcement]:
    """One event's rule on the books (in batch order)."""
    kind, payload = event.envelope.type, event.payload
    if kind == ISSUED:
        return books.issue(_new_invoice(payload))
    if kind == RECEIVED:
        return books.receive(_new_payment(payload))
    if kind == REVERSED:
        return books.reverse(payload.payment_id, payload.reversed_on)
    if kind == CUSTOMER:
        customer: CustomerUpserted = payload
        return books.link_customer(
            customer.account_ids, customer.customer_id, customer.name, _local_today(now, customer.timezone)
        )
    if kind == ADJUSTED:
        adj: InvoiceAdjusted = payload
        return books.resize(
            adj.invoice_id,
            adj.account_id,
            adj.currency,
            adj.new_amount,
            adj.effective_on,
            cancel=False,
            new_due_on=adj.new_due_on,
        )
    cancelled: InvoiceCancelled = payload
    return books.resize(
        cancelled.invoice_id, cancelled.account_id, None, ZERO, cancelled.cancelled_on, cancel=True
    )


def write_books(uow: UnitOfWork, books: Books) -> None:
    """What the batch changed, one statement per table (two where rows are both new and old)."""
    session, tenant, now = uow.session, uow.tenant, uow.now()
    repo.upsert_accounts(
        session,
        tenant,
        [a for a in books.accounts.values() if a.linked or a.account_id in books.new_accounts],
        now,
    )
    repo.write_invoices(session, tenant, [i for i in books.invoices.values() if i.new or i.changed], now)
    repo.write_payments(session, tenant, [p for p in books.payments.values() if p.new or p.changed], now)
    repo.write_allocations(
        session, tenant, [a for a in books.allocations if a.row_id is None or a.changed], now
    )
    repo.write_credits(session, tenant, [c for c in books.credits.values() if c.changed], now)


def on_events(events: Sequence[DecodedEvent[Any]], uow: UnitOfWork) -> None:
    """Every reconciliation event of a batch, in order, on one set of books."""
    books = load_books(uow, events)
    now = uow.now()
    payloads: list[EventPayload] = []
    causes: list[Envelope | None] = []
    for event in events:
        try:
            announcements = _apply(books, event, now)
        except Rejected as exc:
            raise InvalidEvent(str(exc)) from exc
        reason = event.payload.reason if isinstance(event.payload, PaymentReversed) else ""
        for announcement in announcements:
            payloads.append(_announce(announcement, reason))
            causes.append(event.envelope)
    write_books(uow, books)
    uow.emit_many(payloads, causes=causes)


HANDLED = (ISSUED, ADJUSTED, CANCELLED, RECEIVED, REVERSED, CUSTOMER)
