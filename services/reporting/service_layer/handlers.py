"""reporting's projections: each handler upserts the facts one event carries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from libs.events.payloads.accounts import AccountAged
from libs.events.payloads.contacts import ContactDue, ContactOutcome
from libs.events.payloads.invoices import InvoiceAdjusted, InvoiceCancelled, InvoiceIssued
from libs.events.payloads.payments import PaymentReceived, PaymentReversed
from libs.events.payloads.promises import PromiseBroken, PromiseKept, PromiseMade
from libs.events.registry import DecodedEvent
from libs.runtime.uow import UnitOfWork
from services.reporting.adapters.orm import accounts, contacts, invoices, payments, promises


def _upsert(uow: UnitOfWork, table: Table, keys: dict[str, Any], values: dict[str, Any]) -> None:
    uow.session.execute(
        pg_insert(table)
        .values(**keys, **values)
        .on_conflict_do_update(index_elements=list(keys), set_=values)
    )


def on_invoice_issued(event: DecodedEvent[InvoiceIssued], uow: UnitOfWork) -> None:
    """The account's dimensions (ramo, asesor, oficina, agencia) follow its latest invoice."""
    inv = event.payload
    uow.session.execute(
        pg_insert(invoices)
        .values(
            invoice_id=inv.invoice_id,
            account_id=inv.account_id,
            amount=inv.amount,
            currency=inv.currency,
            due_on=inv.due_on,
            product_line=inv.product_line,
            status="open",
        )
        .on_conflict_do_nothing()
    )
    dims = {
        "currency": inv.currency,
        "product_line": inv.product_line,
        "advisor_id": inv.advisor_id,
        "office_id": inv.office_id,
        "agency_id": inv.agency_id,
        "last_issued_on": inv.issued_on,
        "updated_at": uow.now(),
    }
    stmt = pg_insert(accounts).values(account_id=inv.account_id, **dims)
    uow.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["account_id"],
            set_=dims,
            where=or_(accounts.c.last_issued_on.is_(None), accounts.c.last_issued_on <= inv.issued_on),
        )
    )


def on_invoice_adjusted(event: DecodedEvent[InvoiceAdjusted], uow: UnitOfWork) -> None:
    adj = event.payload
    values: dict[str, Any] = {"amount": adj.new_amount}
    if adj.new_due_on is not None:
        values["due_on"] = adj.new_due_on
    uow.session.execute(update(invoices).where(invoices.c.invoice_id == adj.invoice_id).values(**values))


def on_invoice_cancelled(event: DecodedEvent[InvoiceCancelled], uow: UnitOfWork) -> None:
    uow.session.execute(
        update(invoices).where(invoices.c.invoice_id == event.payload.invoice_id).values(status="cancelled")
    )


def on_account_aged(event: DecodedEvent[AccountAged], uow: UnitOfWork) -> None:
    """Upserted: the aged event may overtake the invoice (different topics); the invoice fills the rest."""
    aged = event.payload
    values = {"bucket": aged.bucket, "days_past_due": aged.days_past_due, "updated_at": uow.now()}
    _upsert(uow, accounts, {"account_id": aged.account_id}, {"currency": aged.currency, **values})


def on_payment_received(event: DecodedEvent[PaymentReceived], uow: UnitOfWork) -> None:
    pay = event.payload
    if pay.account_id is None:
        return
    uow.session.execute(
        pg_insert(payments)
        .values(
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
        update(payments).where(payments.c.payment_id == event.payload.payment_id).values(reversed="Y")
    )


def on_promise_made(event: DecodedEvent[PromiseMade], uow: UnitOfWork) -> None:
    p = event.payload
    uow.session.execute(
        pg_insert(promises)
        .values(
            promise_id=p.promise_id,
            account_id=p.account_id,
            amount=p.amount,
            currency=p.currency,
            due_on=p.due_on,
            status="open",
            updated_at=uow.now(),
        )
        .on_conflict_do_nothing()
    )


def _resolved(uow: UnitOfWork, p: PromiseKept | PromiseBroken, status: str) -> None:
    _upsert(
        uow,
        promises,
        {"promise_id": p.promise_id},
        {
            "account_id": p.account_id,
            "amount": p.promised_amount,
            "paid_amount": p.paid_amount,
            "currency": p.currency,
            "due_on": p.due_on,
            "status": status,
            "updated_at": uow.now(),
        },
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
    _upsert(
        uow,
        contacts,
        {"contact_id": c.contact_id},
        {"account_id": c.account_id, "channel": c.channel, "status": c.status, "updated_at": uow.now()},
    )
