"""reconciliation's handlers: lock the account, let the domain decide, persist, emit.

Every handler that touches an account first takes that account's row lock
(``SELECT ... FOR UPDATE``), so two workers never allocate the same open
amount or credit twice.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from libs.events.payloads.allocations import (
    InvoiceAllocation,
    PaymentApplied,
    PaymentReversalApplied,
    PaymentUnapplied,
    ReopenedInvoice,
)
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


def emit_applied(uow: UnitOfWork, application: Application, applied_on: date) -> None:
    written_off = application.written_off
    uow.emit(
        PaymentApplied(
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
            credit_balance_after=repo.credit_total(uow.session, application.account_id, application.currency),
            rule=application.rule,
            matched_by=application.matched_by,
            applied_on=applied_on,
            written_off=written_off if written_off > 0 else None,
        )
    )


def _use_credit(uow: UnitOfWork, invoice: InvoiceState, applied_on: date) -> None:
    """Rule 5: the account's credit balance pays a newly issued (or grown) invoice."""
    lots = repo.account_credit(uow.session, invoice.account_id, invoice.currency)
    uses = apply_credit(invoice, lots)
    for use in uses:
        repo.consume_credit(uow.session, invoice, [use], applied_on, uow.now())
        emit_applied(
            uow,
            Application(
                payment_id=use.payment_id,
                account_id=invoice.account_id,
                currency=invoice.currency,
                rule="credit_balance",
                allocations=(Allocation(use.payment_id, invoice.invoice_id, use.amount, use.open_after),),
                credit_created=ZERO,
            ),
            applied_on,
        )


def on_invoice_issued(event: DecodedEvent[InvoiceIssued], uow: UnitOfWork) -> None:
    inv = event.payload
    now = uow.now()
    repo.lock_account(
        uow.session,
        inv.account_id,
        now,
        customer_id=inv.customer.customer_id,
        customer_name=inv.customer.name,
    )
    inserted = uow.session.execute(
        pg_insert(invoices)
        .values(
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
    now = uow.now()
    repo.lock_account(uow.session, account_id, now)
    row = uow.session.execute(
        select(invoices).where(invoices.c.invoice_id == invoice_id).with_for_update()
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
    allocs = repo.live_allocations(uow.session, invoice_id=invoice_id)
    open_after, freed = shrink(invoice, new_amount, allocs)
    if freed:
        repo.release_allocations(uow.session, invoice_id, freed, now)
        repo.clear_write_offs(uow.session, invoice_id)
    uow.session.execute(
        update(invoices)
        .where(invoices.c.invoice_id == invoice_id)
        .values(
            amount=new_amount,
            open_amount=ZERO if cancel else open_after,
            due_on=new_due_on or row.due_on,
            status="cancelled" if cancel else ("open" if open_after > 0 else "paid"),
            updated_at=now,
        )
    )
    for payment_id, amount in freed:
        received_on = uow.session.execute(
            select(payments.c.received_on).where(payments.c.payment_id == payment_id)
        ).scalar_one()
        repo.add_credit(uow.session, payment_id, account_id, row.currency, amount, received_on, now)
        emit_applied(
            uow,
            Application(
                payment_id=payment_id,
                account_id=account_id,
                currency=row.currency,
                rule="credit_balance",
                allocations=(Allocation(payment_id, invoice_id, ZERO, ZERO if cancel else open_after),),
                credit_created=amount,
            ),
            effective_on,
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


def on_payment_received(event: DecodedEvent[PaymentReceived], uow: UnitOfWork) -> None:
    p = event.payload
    now = uow.now()
    if repo.payment_row(uow.session, p.payment_id) is not None:
        return  # redelivered with a new event id: the payment is already reconciled
    account_id = p.account_id
    ambiguous = False
    if account_id is None and p.reference:
        candidates = repo.invoices_by_reference(uow.session, p.reference)
        account_id, _, ambiguous = resolve_account(p.reference, p.currency, candidates)
    row_values = {
        "payment_id": p.payment_id,
        "currency": p.currency,
        "amount": p.amount,
        "received_on": p.received_on,
        "method": p.method,
        "reference": p.reference,
        "payer_name": p.payer_name,
        "created_at": now,
        "updated_at": now,
    }
    if account_id is None:
        reason = "ambiguous_reference" if ambiguous else "unidentified_account"
        uow.session.execute(
            payments.insert().values(**row_values, account_id=None, status="suspense", suspense_reason=reason)
        )
        uow.emit(
            PaymentUnapplied(
                payment_id=p.payment_id,
                amount=p.amount,
                currency=p.currency,
                reason=reason,
                received_on=p.received_on,
            )
        )
        return
    repo.lock_account(uow.session, account_id, now)
    open_invoices = repo.account_invoices(uow.session, account_id, currency=p.currency)
    tolerance = load_tolerances(uow.extras).for_(uow.tenant, p.currency)
    incoming = IncomingPayment(p.payment_id, account_id, p.currency, p.amount, p.received_on, p.reference)
    application = match_payment(incoming, open_invoices, tolerance)
    repo.persist_application(uow.session, application, p.received_on, now)
    uow.session.execute(
        payments.insert().values(**row_values, account_id=account_id, status="applied", rule=application.rule)
    )
    emit_applied(uow, application, p.received_on)


def on_payment_reversed(event: DecodedEvent[PaymentReversed], uow: UnitOfWork) -> None:
    r = event.payload
    now = uow.now()
    row = repo.payment_row(uow.session, r.payment_id)
    if row is None:
        raise InvalidEvent(f"data.payment_id: unknown payment {r.payment_id!r} (nothing to reverse)")
    if row.account_id is not None:
        repo.lock_account(uow.session, row.account_id, now)
    row = repo.payment_row(uow.session, r.payment_id, lock=True)
    assert row is not None
    if row.status == "reversed":
        return
    reopened: list[ReopenedInvoice] = []
    credit_removed = ZERO
    if row.status == "applied":
        allocs = repo.live_allocations(uow.session, payment_id=r.payment_id)
        states = repo.account_invoices(uow.session, row.account_id, currency=row.currency)
        lots = repo.account_credit(uow.session, row.account_id, row.currency)
        reversal = reverse(r.payment_id, allocs, states, lots)
        repo.mark_reversed(uow.session, r.payment_id)
        for item in reversal.reopened:
            if item.amount <= 0:
                continue
            repo.set_open_amount(uow.session, item.invoice_id, item.open_after, now)
            reopened.append(
                ReopenedInvoice(
                    invoice_id=item.invoice_id, amount=item.amount, invoice_open_amount_after=item.open_after
                )
            )
        credit_removed = reversal.credit_removed
    uow.session.execute(
        update(payments)
        .where(payments.c.payment_id == r.payment_id)
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
                repo.credit_total(uow.session, row.account_id, row.currency) if row.account_id else ZERO
            ),
            reversed_on=r.reversed_on,
            reason=r.reason,
        )
    )
