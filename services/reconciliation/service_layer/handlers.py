"""reconciliation's handlers: lock the account, let the domain decide, persist, emit.

Every handler that touches an account first takes that account's row lock
(``SELECT ... FOR UPDATE``), so two workers never allocate the same open
amount or credit twice. Everything is scoped by the event's tenant.

A payment goes to suspense when nobody knows whose it is: it names an account no
invoice or customer link ever mentioned (never credit on a phantom account), or
its remittance names no invoice or policy of the tenant. ``rematch_suspense``
places such payments in the same transaction as the invoice or customer link
that makes them identifiable.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from libs.events.payloads.allocations import (
    InvoiceAllocation,
    PaymentApplied,
    PaymentReversalApplied,
    PaymentUnapplied,
    ReopenedInvoice,
)
from libs.events.payloads.customers import CustomerUpserted
from libs.events.payloads.invoices import InvoiceAdjusted, InvoiceCancelled, InvoiceIssued
from libs.events.payloads.payments import PaymentReceived, PaymentReversed
from libs.events.registry import DecodedEvent, InvalidEvent
from libs.runtime.uow import UnitOfWork
from services.reconciliation.adapters import repository as repo
from services.reconciliation.adapters.orm import invoices, payments
from services.reconciliation.config.tolerances import load_tolerances
from services.reconciliation.domain.ledger import apply_credit, reverse, shrink
from services.reconciliation.domain.matching import match_payment, normalize_reference, resolve_account
from services.reconciliation.domain.model import ZERO, Allocation, Application, IncomingPayment, InvoiceState
from services.reconciliation.domain.suspense import apply_parked, placements


def applied_event(
    application: Application, applied_on: date, credit_balance_after: Decimal
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
            )
            for a in application.allocations
        ],
        credit_created=application.credit_created,
        credit_balance_after=credit_balance_after,
        rule=application.rule,
        matched_by=application.matched_by,
        applied_on=applied_on,
        written_off=written_off if written_off > 0 else None,
    )


def emit_applied(uow: UnitOfWork, application: Application, applied_on: date) -> None:
    """Announce an application after it was persisted (the credit balance is read back)."""
    balance = repo.credit_total(uow.session, uow.tenant, application.account_id, application.currency)
    uow.emit(applied_event(application, applied_on, balance))


def _use_credit(uow: UnitOfWork, invoice: InvoiceState, applied_on: date) -> None:
    """Rule 5: the account's credit balance pays a newly issued (or grown) invoice."""
    tenant = uow.tenant
    lots = repo.account_credit(uow.session, tenant, invoice.account_id, invoice.currency)
    uses = apply_credit(invoice, lots)
    if not uses:
        return
    repo.consume_credit(uow.session, tenant, invoice, uses, applied_on, uow.now())
    balance = repo.credit_total(uow.session, tenant, invoice.account_id, invoice.currency)
    balance += sum((use.amount for use in uses), ZERO)  # before the invoice took any of it
    events = []
    for use in uses:  # oldest payment first: the balance as each lot is consumed in turn
        balance -= use.amount
        events.append(
            applied_event(
                Application(
                    payment_id=use.payment_id,
                    account_id=invoice.account_id,
                    currency=invoice.currency,
                    rule="credit_balance",
                    allocations=(Allocation(use.payment_id, invoice.invoice_id, use.amount, use.open_after),),
                    credit_created=ZERO,
                ),
                applied_on,
                balance,
            )
        )
    uow.emit_many(events)


def rematch_suspense(
    uow: UnitOfWork,
    account_ids: Collection[str],
    keys: Iterable[str],
    applied_from: Mapping[str, date],
) -> list[Application]:
    """Place the suspense payments that the now-known ``account_ids`` (or invoices named by
    ``keys``) make identifiable; the caller holds those accounts' locks.

    One read finds the candidates, one reads the invoices their remittances name, one the
    accounts' open invoices; the results are written multi-row and announced with
    ``payment.applied`` (the rule that matched). ``applied_from`` gives, per account, the
    first business day the payment could be placed (``applied_on`` is never before receipt).
    """
    session, tenant, now = uow.session, uow.tenant, uow.now()
    parked = repo.parked_payments(session, tenant, account_ids, set(keys))
    if not parked:
        return []
    references = [p.reference for p in parked if p.claimed_account_id is None and p.reference]
    named = repo.invoices_by_reference(session, tenant, references) if references else []
    placed = placements(parked, named, set(account_ids))
    if not placed:
        return []
    touched = sorted({account_id for _, account_id in placed})
    books = repo.account_invoices(session, tenant, touched)
    table = load_tolerances(uow.extras)
    applications = apply_parked(placed, books, lambda currency: table.for_(tenant, currency))
    dated = [
        (application, max(payment.received_on, applied_from[account_id]), payment.received_on)
        for application, (payment, account_id) in zip(applications, placed, strict=True)
    ]
    balances = repo.credit_totals(session, tenant, touched)
    repo.persist_applications(session, tenant, dated, now)
    repo.leave_suspense(session, tenant, applications, now)
    events = []
    for application, applied_on, _ in dated:
        key = (application.account_id, application.currency)
        balances[key] = balances.get(key, ZERO) + application.credit_created
        events.append(applied_event(application, applied_on, balances[key]))
    uow.emit_many(events)
    return applications


def _invoice_keys(invoice_id: str, policy_number: str | None) -> set[str]:
    return {k for k in (normalize_reference(invoice_id), normalize_reference(policy_number)) if k}


def on_invoice_issued(event: DecodedEvent[InvoiceIssued], uow: UnitOfWork) -> None:
    inv = event.payload
    tenant, now = uow.tenant, uow.now()
    keys = _invoice_keys(inv.invoice_id, inv.policy_number)
    repo.lock_reference_keys(uow.session, tenant, keys)
    repo.link_accounts(
        uow.session,
        tenant,
        [repo.AccountLink(inv.account_id, inv.customer.customer_id, inv.customer.name)],
        now,
    )
    repo.lock_accounts(uow.session, tenant, [inv.account_id])
    inserted = uow.session.execute(
        pg_insert(invoices)
        .values(
            tenant_id=tenant,
            invoice_id=inv.invoice_id,
            account_id=inv.account_id,
            currency=inv.currency,
            amount=inv.amount,
            open_amount=inv.amount,
            issued_on=inv.issued_on,
            due_on=inv.due_on,
            policy_number=inv.policy_number,
            reference_key=normalize_reference(inv.invoice_id),
            policy_key=normalize_reference(inv.policy_number) or None,
            status="open",
            updated_at=now,
        )
        .on_conflict_do_nothing()
        .returning(invoices.c.invoice_id)
    ).first()
    if inserted is None:
        return  # the same invoice issued twice: the first one stands
    state = InvoiceState(
        inv.invoice_id,
        inv.account_id,
        inv.currency,
        inv.amount,
        inv.amount,
        inv.due_on,
        inv.issued_on,
        inv.policy_number,
    )
    _use_credit(uow, state, inv.issued_on)
    rematch_suspense(uow, [inv.account_id], keys, {inv.account_id: inv.issued_on})


def _local_today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def on_customer_upserted(event: DecodedEvent[CustomerUpserted], uow: UnitOfWork) -> None:
    """A customer names its accounts: they are known, and payments parked for them are placed."""
    customer = event.payload
    if not customer.account_ids:
        return
    tenant, now = uow.tenant, uow.now()
    account_ids = sorted(set(customer.account_ids))
    repo.link_accounts(
        uow.session,
        tenant,
        [repo.AccountLink(a, customer.customer_id, customer.name) for a in account_ids],
        now,
    )
    repo.lock_accounts(uow.session, tenant, account_ids)
    today = _local_today(now, customer.timezone)
    rematch_suspense(uow, account_ids, (), dict.fromkeys(account_ids, today))


def _resize_invoice(
    uow: UnitOfWork,
    invoice_id: str,
    account_id: str,
    currency: str | None,
    new_amount: Decimal,
    effective_on: date,
    *,
    cancel: bool,
    new_due_on: date | None = None,
) -> None:
    """An invoice's amount changed: free cash that now exceeds it as credit, then use credit if it grew."""
    tenant, now = uow.tenant, uow.now()
    repo.lock_accounts(uow.session, tenant, [account_id])
    row = uow.session.execute(
        select(invoices)
        .where(invoices.c.tenant_id == tenant, invoices.c.invoice_id == invoice_id)
        .with_for_update()
    ).first()
    if row is None:
        raise InvalidEvent(f"data.invoice_id: unknown invoice {invoice_id!r} (issue it first)")
    if row.account_id != account_id:
        raise InvalidEvent(f"data.account_id: invoice {invoice_id!r} belongs to another account")
    if currency is not None and row.currency != currency:
        raise InvalidEvent(f"data.currency: invoice {invoice_id!r} is in {row.currency}, not {currency}")
    if row.status == "cancelled":
        return
    invoice = repo.to_invoice(row)
    allocs = repo.live_allocations(uow.session, tenant, invoice_id=invoice_id)
    open_after, freed = shrink(invoice, new_amount, allocs)
    if freed:
        repo.release_allocations(uow.session, tenant, invoice_id, freed)
        repo.clear_write_offs(uow.session, tenant, invoice_id)
    uow.session.execute(
        update(invoices)
        .where(invoices.c.tenant_id == tenant, invoices.c.invoice_id == invoice_id)
        .values(
            amount=new_amount,
            open_amount=ZERO if cancel else open_after,
            due_on=new_due_on or row.due_on,
            status="cancelled" if cancel else ("open" if open_after > 0 else "paid"),
            updated_at=now,
        )
    )
    if freed:
        received = repo.received_dates(uow.session, tenant, [payment_id for payment_id, _ in freed])
        repo.add_credits(
            uow.session,
            tenant,
            [(pid, account_id, row.currency, amount, received[pid]) for pid, amount in freed],
            now,
        )
        balance = repo.credit_total(uow.session, tenant, account_id, row.currency)
        uow.emit_many(
            applied_event(
                Application(
                    payment_id=payment_id,
                    account_id=account_id,
                    currency=row.currency,
                    rule="credit_balance",
                    allocations=(Allocation(payment_id, invoice_id, ZERO, ZERO if cancel else open_after),),
                    credit_created=amount,
                ),
                effective_on,
                # the balance as each payment's cash was freed in turn
                balance - sum((a for _, a in freed[index + 1 :]), ZERO),
            )
            for index, (payment_id, amount) in enumerate(freed)
        )
    if not cancel and open_after > 0:
        grown = InvoiceState(
            invoice_id,
            account_id,
            row.currency,
            new_amount,
            open_after,
            new_due_on or row.due_on,
            row.issued_on,
            row.policy_number,
        )
        _use_credit(uow, grown, effective_on)


def on_invoice_adjusted(event: DecodedEvent[InvoiceAdjusted], uow: UnitOfWork) -> None:
    adj = event.payload
    _resize_invoice(
        uow,
        adj.invoice_id,
        adj.account_id,
        adj.currency,
        adj.new_amount,
        adj.effective_on,
        cancel=False,
        new_due_on=adj.new_due_on,
    )


def on_invoice_cancelled(event: DecodedEvent[InvoiceCancelled], uow: UnitOfWork) -> None:
    c = event.payload
    _resize_invoice(uow, c.invoice_id, c.account_id, None, ZERO, c.cancelled_on, cancel=True)


def _apply(uow: UnitOfWork, p: PaymentReceived, account_id: str, row_values: dict[str, object]) -> None:
    """Match a payment of a known account (its lock held) and record it as applied."""
    tenant, now = uow.tenant, uow.now()
    open_invoices = repo.account_invoices(uow.session, tenant, [account_id], currency=p.currency)
    tolerance = load_tolerances(uow.extras).for_(tenant, p.currency)
    incoming = IncomingPayment(p.payment_id, account_id, p.currency, p.amount, p.received_on, p.reference)
    application = match_payment(incoming, open_invoices, tolerance)
    repo.persist_application(uow.session, tenant, application, p.received_on, p.received_on, now)
    uow.session.execute(
        payments.insert().values(
            **row_values, tenant_id=tenant, account_id=account_id, status="applied", rule=application.rule
        )
    )
    emit_applied(uow, application, p.received_on)


def _park(uow: UnitOfWork, p: PaymentReceived, row_values: dict[str, object], reason: str) -> None:
    repo.park_payment(uow.session, uow.tenant, row_values, reason, index=p.account_id is None)
    uow.emit(
        PaymentUnapplied(
            payment_id=p.payment_id,
            amount=p.amount,
            currency=p.currency,
            reason=reason,
            received_on=p.received_on,
        )
    )


def on_payment_received(event: DecodedEvent[PaymentReceived], uow: UnitOfWork) -> None:
    p = event.payload
    tenant, now = uow.tenant, uow.now()
    if repo.payment_row(uow.session, tenant, p.payment_id) is not None:
        return  # redelivered with a new event id: the payment is already reconciled
    row_values: dict[str, object] = {
        "payment_id": p.payment_id,
        "claimed_account_id": p.account_id,
        "currency": p.currency,
        "amount": p.amount,
        "received_on": p.received_on,
        "method": p.method,
        "method_detail": p.method_detail,
        "reference": p.reference,
        "payer_name": p.payer_name,
        "created_at": now,
        "updated_at": now,
    }
    if p.account_id is not None:
        if repo.lock_account(uow.session, tenant, p.account_id, now):
            _apply(uow, p, p.account_id, row_values)
        else:
            _park(uow, p, row_values, "unidentified_account")
        return
    references = [p.reference] if p.reference else []
    account_id, _, ambiguous = resolve_account(
        p.reference, p.currency, repo.invoices_by_reference(uow.session, tenant, references)
    )
    if account_id is None and references:
        # hold the remittance's keys and look again: an invoice it names may be committing now
        repo.lock_reference_keys(uow.session, tenant, repo.searchable_keys(p.reference))
        account_id, _, ambiguous = resolve_account(
            p.reference, p.currency, repo.invoices_by_reference(uow.session, tenant, references)
        )
    if account_id is None:
        _park(uow, p, row_values, "ambiguous_reference" if ambiguous else "unidentified_account")
        return
    repo.lock_accounts(uow.session, tenant, [account_id])
    _apply(uow, p, account_id, row_values)


def on_payment_reversed(event: DecodedEvent[PaymentReversed], uow: UnitOfWork) -> None:
    r = event.payload
    tenant, now = uow.tenant, uow.now()
    row = repo.payment_row(uow.session, tenant, r.payment_id)
    if row is None:
        raise InvalidEvent(f"data.payment_id: unknown payment {r.payment_id!r} (nothing to reverse)")
    locked: str | None = None
    while True:
        if row.account_id is not None and row.account_id != locked:
            repo.lock_accounts(uow.session, tenant, [row.account_id])
            locked = row.account_id
        row = repo.payment_row(uow.session, tenant, r.payment_id, lock=True)
        assert row is not None
        if row.account_id is None or row.account_id == locked:
            break  # placed from suspense meanwhile: lock its account too, then read it again
    if row.status == "reversed":
        return
    reopened: list[ReopenedInvoice] = []
    credit_removed = ZERO
    if row.status == "applied":
        allocs = repo.live_allocations(uow.session, tenant, payment_id=r.payment_id)
        states = repo.account_invoices(uow.session, tenant, [row.account_id], currency=row.currency)
        lots = repo.account_credit(uow.session, tenant, row.account_id, row.currency)
        reversal = reverse(r.payment_id, allocs, states, lots)
        repo.mark_reversed(uow.session, tenant, r.payment_id)
        changes = {item.invoice_id: item.open_after for item in reversal.reopened if item.amount > 0}
        repo.set_open_amounts(uow.session, tenant, changes, now)
        reopened = [
            ReopenedInvoice(
                invoice_id=item.invoice_id, amount=item.amount, invoice_open_amount_after=item.open_after
            )
            for item in reversal.reopened
            if item.amount > 0
        ]
        credit_removed = reversal.credit_removed
    else:
        repo.forget_suspense_keys(uow.session, tenant, [r.payment_id])
    uow.session.execute(
        update(payments)
        .where(payments.c.tenant_id == tenant, payments.c.payment_id == r.payment_id)
        .values(status="reversed", reversed_on=r.reversed_on, updated_at=now)
    )
    uow.emit(
        PaymentReversalApplied(
            payment_id=r.payment_id,
            account_id=row.account_id,
            currency=row.currency,
            reopened=reopened,
            credit_removed=credit_removed,
            credit_balance_after=(
                repo.credit_total(uow.session, tenant, row.account_id, row.currency)
                if row.account_id
                else ZERO
            ),
            reversed_on=r.reversed_on,
            reason=r.reason,
        )
    )
