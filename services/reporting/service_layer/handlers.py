"""reporting's projections: each handler sets the facts one event carries, scoped to its tenant.

Balances come from reconciliation's allocations (``payment.*applied``), never
from raw ``payment.received``, which only feeds the "payments received" KPI.
The order-tolerance rules are in ``services/reporting/domain/money.py``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from libs.events.payloads.accounts import AccountAged
from libs.events.payloads.allocations import PaymentApplied, PaymentReversalApplied, PaymentUnapplied
from libs.events.payloads.contacts import ContactDue, ContactOutcome
from libs.events.payloads.invoices import InvoiceAdjusted, InvoiceCancelled, InvoiceIssued
from libs.events.payloads.payments import PaymentReceived, PaymentReversed
from libs.events.payloads.promises import PromiseBroken, PromiseKept, PromiseMade
from libs.events.registry import DecodedEvent, InvalidEvent
from libs.runtime.uow import UnitOfWork
from services.reporting.adapters import repository as repo
from services.reporting.adapters.orm import contacts, payments, promises
from services.reporting.domain.buckets import first_bucket_evidence
from services.reporting.domain.money import last_open_amount_per_invoice


def on_invoice_issued(event: DecodedEvent[InvoiceIssued], uow: UnitOfWork) -> None:
    inv = event.payload
    now = uow.now()
    repo.record_issued(
        uow.session,
        tenant=uow.tenant,
        values={
            "invoice_id": inv.invoice_id,
            "account_id": inv.account_id,
            "currency": inv.currency,
            "amount": inv.amount,
            "issued_on": inv.issued_on,
            "due_on": inv.due_on,
            "product_line": inv.product_line,
        },
        now=now,
    )
    repo.record_dimensions(
        uow.session,
        tenant=uow.tenant,
        account_id=inv.account_id,
        currency=inv.currency,
        dims={
            "product_line": inv.product_line,
            "advisor_id": inv.advisor_id,
            "office_id": inv.office_id,
            "agency_id": inv.agency_id,
            "last_issued_on": inv.issued_on,
        },
        now=now,
    )


def on_invoice_adjusted(event: DecodedEvent[InvoiceAdjusted], uow: UnitOfWork) -> None:
    adj = event.payload
    try:
        repo.adjust_invoice(
            uow.session,
            tenant=uow.tenant,
            invoice_id=adj.invoice_id,
            account_id=adj.account_id,
            currency=adj.currency,
            new_amount=adj.new_amount,
            new_due_on=adj.new_due_on,
            event_id=event.id,
            now=uow.now(),
        )
    except repo.InvoiceMismatch as exc:
        raise InvalidEvent(str(exc), event.envelope) from exc


def on_invoice_cancelled(event: DecodedEvent[InvoiceCancelled], uow: UnitOfWork) -> None:
    c = event.payload
    try:
        repo.cancel_invoice(
            uow.session, tenant=uow.tenant, invoice_id=c.invoice_id, account_id=c.account_id, now=uow.now()
        )
    except repo.InvoiceMismatch as exc:
        raise InvalidEvent(str(exc), event.envelope) from exc


def on_account_aged(event: DecodedEvent[AccountAged], uow: UnitOfWork) -> None:
    """Per (account, currency), named as the tenant's scheme names it; may overtake the invoice.

    Also learns the tenant's first bucket (``domain/buckets.py``), which aging never announces.
    """
    aged = event.payload
    scope = {"tenant": uow.tenant, "account_id": aged.account_id, "currency": aged.currency}
    first = first_bucket_evidence(aged, announced_before=repo.was_announced(uow.session, **scope))
    if first is not None:
        repo.learn_first_bucket(uow.session, tenant=uow.tenant, first=first, as_of=event.envelope.time)
    repo.set_bucket(
        uow.session,
        **scope,
        bucket=aged.bucket,
        stage=aged.stage,
        days_past_due=aged.days_past_due,
        as_of=event.envelope.time,
        now=uow.now(),
    )


def on_payment_applied(event: DecodedEvent[PaymentApplied], uow: UnitOfWork) -> None:
    """Invoices' open amounts and the account's credit as reconciliation left them; the payment is placed."""
    p = event.payload
    now, as_of = uow.now(), event.envelope.time
    scope = {"tenant": uow.tenant, "account_id": p.account_id, "currency": p.currency}
    repo.set_open_amounts(
        uow.session,
        **scope,
        open_after=last_open_amount_per_invoice(
            (a.invoice_id, a.invoice_open_amount_after) for a in p.allocations
        ),
        as_of=as_of,
        cause=event.envelope.causationid,
        now=now,
    )
    repo.set_credit(uow.session, **scope, credit_balance=p.credit_balance_after, as_of=as_of, now=now)
    repo.place_payment(
        uow.session,
        tenant=uow.tenant,
        payment_id=p.payment_id,
        state="applied",
        currency=p.currency,
        account_id=p.account_id,
        now=now,
    )


def on_payment_unapplied(event: DecodedEvent[PaymentUnapplied], uow: UnitOfWork) -> None:
    """The payment waits in suspense: reported per currency, never as money on an account."""
    p = event.payload
    repo.place_payment(
        uow.session,
        tenant=uow.tenant,
        payment_id=p.payment_id,
        state="suspense",
        currency=p.currency,
        account_id=p.account_id,
        now=uow.now(),
        suspense={"amount": p.amount, "reason": p.reason, "received_on": p.received_on},
    )


def on_payment_reversal_applied(event: DecodedEvent[PaymentReversalApplied], uow: UnitOfWork) -> None:
    """The reopened invoices owe again; the credit the payment left is gone; the payment is reversed."""
    r = event.payload
    now, as_of = uow.now(), event.envelope.time
    if r.account_id is not None:
        scope = {"tenant": uow.tenant, "account_id": r.account_id, "currency": r.currency}
        repo.set_open_amounts(
            uow.session,
            **scope,
            open_after=last_open_amount_per_invoice(
                (i.invoice_id, i.invoice_open_amount_after) for i in r.reopened
            ),
            as_of=as_of,
            cause=event.envelope.causationid,
            now=now,
        )
        repo.set_credit(uow.session, **scope, credit_balance=r.credit_balance_after, as_of=as_of, now=now)
    repo.place_payment(
        uow.session,
        tenant=uow.tenant,
        payment_id=r.payment_id,
        state="reversed",
        currency=r.currency,
        account_id=r.account_id,
        now=now,
    )


def on_payment_received(event: DecodedEvent[PaymentReceived], uow: UnitOfWork) -> None:
    """The "payments received" KPI only: money is applied when reconciliation says so."""
    pay = event.payload
    uow.session.execute(
        pg_insert(payments)
        .values(
            tenant_id=uow.tenant,
            payment_id=pay.payment_id,
            account_id=pay.account_id,
            amount=pay.amount,
            currency=pay.currency,
            received_on=pay.received_on,
        )
        .on_conflict_do_nothing()
    )


def on_payment_reversed(event: DecodedEvent[PaymentReversed], uow: UnitOfWork) -> None:
    uow.session.execute(
        update(payments)
        .where(payments.c.tenant_id == uow.tenant, payments.c.payment_id == event.payload.payment_id)
        .values(reversed="Y")
    )


def _upsert_promise(uow: UnitOfWork, promise_id: str, values: dict[str, Any], *, overwrite: bool) -> None:
    stmt = pg_insert(promises).values(tenant_id=uow.tenant, promise_id=promise_id, **values)
    keys = [promises.c.tenant_id, promises.c.promise_id]
    uow.session.execute(
        stmt.on_conflict_do_update(index_elements=keys, set_=values)
        if overwrite
        else stmt.on_conflict_do_nothing(index_elements=keys)
    )


def on_promise_made(event: DecodedEvent[PromiseMade], uow: UnitOfWork) -> None:
    p = event.payload
    _upsert_promise(
        uow,
        p.promise_id,
        {
            "account_id": p.account_id,
            "amount": p.amount,
            "currency": p.currency,
            "due_on": p.due_on,
            "status": "open",
            "updated_at": uow.now(),
        },
        overwrite=False,
    )


def _resolved(uow: UnitOfWork, p: PromiseKept | PromiseBroken, status: str) -> None:
    _upsert_promise(
        uow,
        p.promise_id,
        {
            "account_id": p.account_id,
            "amount": p.promised_amount,
            "paid_amount": p.paid_amount,
            "currency": p.currency,
            "due_on": p.due_on,
            "status": status,
            "updated_at": uow.now(),
        },
        overwrite=True,
    )


def on_promise_kept(event: DecodedEvent[PromiseKept], uow: UnitOfWork) -> None:
    _resolved(uow, event.payload, "kept")


def on_promise_broken(event: DecodedEvent[PromiseBroken], uow: UnitOfWork) -> None:
    _resolved(uow, event.payload, "broken")


def on_contact_due(event: DecodedEvent[ContactDue], uow: UnitOfWork) -> None:
    c = event.payload
    uow.session.execute(
        pg_insert(contacts)
        .values(
            tenant_id=uow.tenant,
            contact_id=c.contact_id,
            account_id=c.account_id,
            channel=c.channel,
            strategy=c.strategy,
            step=c.step,
            status="due",
            updated_at=uow.now(),
        )
        .on_conflict_do_nothing()
    )


def on_contact_outcome(event: DecodedEvent[ContactOutcome], uow: UnitOfWork) -> None:
    c = event.payload
    values = {"account_id": c.account_id, "channel": c.channel, "status": c.status, "updated_at": uow.now()}
    stmt = pg_insert(contacts).values(tenant_id=uow.tenant, contact_id=c.contact_id, **values)
    uow.session.execute(
        stmt.on_conflict_do_update(index_elements=[contacts.c.tenant_id, contacts.c.contact_id], set_=values)
    )
