"""segmentation's handlers: keep the account profile, then re-segment the account.

An account becomes relevant (is scored, segmented and announced) once it has an
invoice; facts that arrive before that (an aged event, a payment) are kept and
counted when the first invoice arrives.

Every row is the event's tenant's (``uow.tenant``); accounts are found from the
payload (``account_id``, a customer's ``account_ids``), never from the envelope
subject, so the customers topic can be keyed by customer.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from libs.events.payloads.accounts import AccountAged
from libs.events.payloads.allocations import PaymentApplied, PaymentReversalApplied
from libs.events.payloads.customers import CustomerUpserted
from libs.events.payloads.invoices import InvoiceAdjusted, InvoiceCancelled, InvoiceIssued
from libs.events.payloads.payments import PaymentReceived, PaymentReversed
from libs.events.payloads.promises import PromiseBroken, PromiseKept
from libs.events.registry import DecodedEvent, InvalidEvent
from libs.runtime.service import Handler
from libs.runtime.uow import UnitOfWork
from services.segmentation.adapters import repository as repo
from services.segmentation.adapters.orm import accounts, aging_history, invoices, payments, promise_outcomes
from services.segmentation.service_layer.commands import resegment_account


def _ensure_account(uow: UnitOfWork, account_id: str, currency: str, **profile: Any) -> Any:
    """Create or update the account row; the first currency seen is the account's currency.

    Aging keeps a bucket per account and currency; segmentation profiles an
    account in its own currency, so facts in another one are stored (invoices,
    payments) but do not move its balances or bucket.
    """
    row = repo.account_row(uow.session, uow.tenant, account_id, lock=True)
    if row is None:
        uow.session.execute(
            insert(accounts).values(
                tenant_id=uow.tenant,
                account_id=account_id,
                currency=currency,
                updated_at=uow.now(),
                **profile,
            )
        )
        return repo.account_row(uow.session, uow.tenant, account_id)
    values = {k: v for k, v in profile.items() if v is not None}
    uow.session.execute(_account_update(uow, account_id).values(updated_at=uow.now(), **values))
    return row


def _account_update(uow: UnitOfWork, account_id: str) -> Any:
    return update(accounts).where(accounts.c.tenant_id == uow.tenant, accounts.c.account_id == account_id)


def _after(uow: UnitOfWork, account_id: str) -> None:
    repo.refresh_aggregates(uow.session, uow.tenant, account_id)
    resegment_account(uow, account_id)


def on_invoice_issued(event: DecodedEvent[InvoiceIssued], uow: UnitOfWork) -> None:
    inv = event.payload
    existing = repo.account_row(uow.session, uow.tenant, inv.account_id, lock=True)
    if existing is not None and existing.first_issued_on is None and existing.currency != inv.currency:
        # facts that came before the first invoice guessed the currency; the invoice settles it
        uow.session.execute(_account_update(uow, inv.account_id).values(currency=inv.currency))
    _ensure_account(
        uow,
        inv.account_id,
        inv.currency,
        timezone=inv.customer.timezone,
        customer_id=inv.customer.customer_id,
        customer_kind=inv.customer.kind,
        country=inv.customer.country,
        region=inv.customer.region,
        product_line=inv.product_line,
        advisor_id=inv.advisor_id,
        office_id=inv.office_id,
        agency_id=inv.agency_id,
    )
    uow.session.execute(
        pg_insert(invoices)
        .values(
            tenant_id=uow.tenant,
            invoice_id=inv.invoice_id,
            account_id=inv.account_id,
            amount=inv.amount,
            open_amount=repo.take_early_open_amount(uow.session, uow.tenant, inv.invoice_id),
            currency=inv.currency,
            issued_on=inv.issued_on,
            due_on=inv.due_on,
        )
        .on_conflict_do_nothing()
    )
    _after(uow, inv.account_id)


def _known_invoice(uow: UnitOfWork, invoice_id: str, account_id: str) -> None:
    found = uow.session.execute(
        invoices.select().where(
            invoices.c.tenant_id == uow.tenant,
            invoices.c.invoice_id == invoice_id,
            invoices.c.account_id == account_id,
        )
    ).first()
    if found is None:
        raise InvalidEvent(f"invoice_id: invoice {invoice_id} of account {account_id} was never issued")


def _invoice_update(uow: UnitOfWork, invoice_id: str) -> Any:
    return update(invoices).where(invoices.c.tenant_id == uow.tenant, invoices.c.invoice_id == invoice_id)


def on_invoice_adjusted(event: DecodedEvent[InvoiceAdjusted], uow: UnitOfWork) -> None:
    adj = event.payload
    _known_invoice(uow, adj.invoice_id, adj.account_id)
    _ensure_account(uow, adj.account_id, adj.currency)
    # what was paid stays paid: the open amount moves with the billed amount (never below 0)
    values: dict[str, Any] = {
        "amount": adj.new_amount,
        "open_amount": case(
            (invoices.c.open_amount.is_(None), None),
            else_=func.greatest(0, adj.new_amount - (invoices.c.amount - invoices.c.open_amount)),
        ),
    }
    if adj.new_due_on is not None:
        values["due_on"] = adj.new_due_on
    uow.session.execute(_invoice_update(uow, adj.invoice_id).values(**values))
    _after(uow, adj.account_id)


def on_invoice_cancelled(event: DecodedEvent[InvoiceCancelled], uow: UnitOfWork) -> None:
    cancel = event.payload
    _known_invoice(uow, cancel.invoice_id, cancel.account_id)
    uow.session.execute(_invoice_update(uow, cancel.invoice_id).values(cancelled=True))
    _after(uow, cancel.account_id)


def on_account_aged(event: DecodedEvent[AccountAged], uow: UnitOfWork) -> None:
    aged = event.payload
    row = _ensure_account(uow, aged.account_id, aged.currency)
    if row.currency != aged.currency:
        return
    effective_on = repo.local_today(event.envelope.time, row.timezone)
    uow.session.execute(
        pg_insert(aging_history)
        .values(
            tenant_id=uow.tenant,
            event_id=event.id,
            account_id=aged.account_id,
            effective_on=effective_on,
            bucket=aged.bucket,
            stage=aged.stage,
            days_past_due=aged.days_past_due,
            overdue_amount=aged.overdue_amount,
        )
        .on_conflict_do_nothing()
    )
    uow.session.execute(
        _account_update(uow, aged.account_id).values(
            bucket=aged.bucket,
            stage=aged.stage,
            days_past_due=aged.days_past_due,
            overdue_balance=aged.overdue_amount,
            aged_on=effective_on,
        )
    )
    _after(uow, aged.account_id)


def _on_promise(uow: UnitOfWork, promise: PromiseKept | PromiseBroken, outcome: str) -> None:
    _ensure_account(uow, promise.account_id, promise.currency)
    uow.session.execute(
        pg_insert(promise_outcomes)
        .values(
            tenant_id=uow.tenant,
            promise_id=promise.promise_id,
            account_id=promise.account_id,
            outcome=outcome,
            due_on=promise.due_on,
        )
        .on_conflict_do_update(index_elements=["tenant_id", "promise_id"], set_={"outcome": outcome})
    )
    _after(uow, promise.account_id)


def on_promise_kept(event: DecodedEvent[PromiseKept], uow: UnitOfWork) -> None:
    _on_promise(uow, event.payload, "kept")


def on_promise_broken(event: DecodedEvent[PromiseBroken], uow: UnitOfWork) -> None:
    _on_promise(uow, event.payload, "broken")


def on_payment_received(event: DecodedEvent[PaymentReceived], uow: UnitOfWork) -> None:
    """A payment counts as on time when the account was current (per aging) as it arrived.

    Unidentified payments (no account) are reconciliation's to match; they are
    counted here once they arrive again with an account.
    """
    pay = event.payload
    if pay.account_id is None:
        return
    row = _ensure_account(uow, pay.account_id, pay.currency)
    uow.session.execute(
        pg_insert(payments)
        .values(
            tenant_id=uow.tenant,
            payment_id=pay.payment_id,
            account_id=pay.account_id,
            amount=pay.amount,
            currency=pay.currency,
            received_on=pay.received_on,
            on_time=row.days_past_due == 0,
        )
        .on_conflict_do_nothing()
    )
    _after(uow, pay.account_id)


def _set_credit(uow: UnitOfWork, account_id: str | None, currency: str, credit_after: Decimal) -> None:
    """Reconciliation's credit balance of the account, in the account's own currency only."""
    if account_id is None:
        return
    uow.session.execute(
        _account_update(uow, account_id)
        .where(accounts.c.currency == currency)
        .values(credit_balance=credit_after)
    )


def on_payment_applied(event: DecodedEvent[PaymentApplied], uow: UnitOfWork) -> None:
    """Reconciliation's application of a payment: the money truth for balances, and payment history.

    Invoices' open amounts and the credit balance are *set* from the event
    (``invoice_open_amount_after``, ``credit_balance_after``), so a redelivery
    changes nothing. The history row is keyed by payment id like
    ``payment.received``, so a payment seen on both topics is counted once.
    """
    applied = event.payload
    row = _ensure_account(uow, applied.account_id, applied.currency)
    uow.session.execute(
        pg_insert(payments)
        .values(
            tenant_id=uow.tenant,
            payment_id=applied.payment_id,
            account_id=applied.account_id,
            amount=applied.amount_applied + applied.credit_created,
            currency=applied.currency,
            received_on=applied.applied_on,
            on_time=row.days_past_due == 0,
        )
        .on_conflict_do_nothing()
    )
    changes = [(a.invoice_id, a.invoice_open_amount_after) for a in applied.allocations]
    touched = repo.set_open_amounts(uow.session, uow.tenant, changes, uow.now())
    _set_credit(uow, applied.account_id, applied.currency, applied.credit_balance_after)
    for account_id in sorted(touched | {applied.account_id}):
        _after(uow, account_id)


def on_payment_reversal_applied(event: DecodedEvent[PaymentReversalApplied], uow: UnitOfWork) -> None:
    """A reversal undone by reconciliation: its invoices owe again and its credit is gone."""
    reversal = event.payload
    changes = [(r.invoice_id, r.invoice_open_amount_after) for r in reversal.reopened]
    touched = repo.set_open_amounts(uow.session, uow.tenant, changes, uow.now())
    _set_credit(uow, reversal.account_id, reversal.currency, reversal.credit_balance_after)
    if reversal.account_id is not None and repo.account_row(uow.session, uow.tenant, reversal.account_id):
        touched.add(reversal.account_id)
    for account_id in sorted(touched):
        _after(uow, account_id)


def on_payment_reversed(event: DecodedEvent[PaymentReversed], uow: UnitOfWork) -> None:
    rev = event.payload
    if rev.account_id is None:
        return
    done = uow.session.execute(
        update(payments)
        .where(
            payments.c.tenant_id == uow.tenant,
            payments.c.payment_id == rev.payment_id,
            payments.c.account_id == rev.account_id,
        )
        .values(reversed=True)
        .returning(payments.c.payment_id)
    ).first()
    if done is not None:  # a reversal of a payment never seen here changes nothing in the profile
        _after(uow, rev.account_id)


def on_customer_upserted(event: DecodedEvent[CustomerUpserted], uow: UnitOfWork) -> None:
    """The customer master's profile reaches each account in ``account_ids`` and re-segments it.

    The customers topic is keyed by customer id, so the accounts come from the
    payload only. Accounts segmentation has not seen yet are left alone: an
    account starts with its first fact (which carries its currency), and its
    first invoice's customer snapshot fills the profile until the next upsert.
    """
    customer = event.payload
    if not customer.account_ids:
        return
    profile: dict[str, Any] = {
        "customer_id": customer.customer_id,
        "customer_kind": customer.kind,
        "country": customer.country,
        "timezone": customer.timezone,
    }
    if customer.region is not None:
        profile["region"] = customer.region
    touched = (
        uow.session.execute(
            update(accounts)
            .where(accounts.c.tenant_id == uow.tenant, accounts.c.account_id.in_(customer.account_ids))
            .values(updated_at=uow.now(), **profile)
            .returning(accounts.c.account_id)
        )
        .scalars()
        .all()
    )
    for account_id in sorted(touched):
        resegment_account(uow, account_id)


HANDLERS: dict[str, Handler] = {
    "cobranza.invoice.issued": on_invoice_issued,
    "cobranza.invoice.adjusted": on_invoice_adjusted,
    "cobranza.invoice.cancelled": on_invoice_cancelled,
    "cobranza.account.aged": on_account_aged,
    "cobranza.promise.kept": on_promise_kept,
    "cobranza.promise.broken": on_promise_broken,
    "cobranza.payment.received": on_payment_received,
    "cobranza.payment.reversed": on_payment_reversed,
    "cobranza.payment.applied": on_payment_applied,
    "cobranza.payment.reversal_applied": on_payment_reversal_applied,
    "cobranza.customer.upserted": on_customer_upserted,
}
