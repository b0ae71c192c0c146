"""segmentation's batch handler: keep the account profiles, then re-segment the accounts touched.

One call takes a poll batch's events of one tenant, in arrival order (any of the types below):
it reads every row the batch can reach (one query per table, accounts locked in account order),
applies the events in order to ``Profiles`` (the per-event rules, in memory), scores every
re-segmentation the events asked for with ONE ``predict_proba`` over their feature matrix,
assigns segments in one pass, and writes back what changed (one statement per table) and the
``segment.changed`` announcements (one outbox insert, each with its causing event).

An account becomes relevant (is scored, segmented and announced) once it has an invoice; facts
that arrive before that (an aged event, a payment) are kept and counted when the first invoice
arrives. Accounts are found from the payload (``account_id``, a customer's ``account_ids``),
never from the envelope subject, so the customers topic can be keyed by customer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from libs.events.payloads.accounts import AccountAged
from libs.events.payloads.allocations import PaymentApplied, PaymentReversalApplied
from libs.events.payloads.customers import CustomerUpserted
from libs.events.payloads.invoices import InvoiceAdjusted, InvoiceCancelled, InvoiceIssued
from libs.events.payloads.payments import PaymentReceived, PaymentReversed
from libs.events.payloads.promises import PromiseBroken, PromiseKept
from libs.events.registry import DecodedEvent, InvalidEvent
from libs.runtime.service import BatchHandler
from libs.runtime.uow import UnitOfWork
from services.segmentation.adapters import profile_store as store
from services.segmentation.domain.profiles import (
    Aging,
    Invoice,
    Payment,
    Profiles,
    PromiseOutcome,
    UnknownInvoice,
    local_today,
    money,
)
from services.segmentation.service_layer.commands import segment_steps

Event = DecodedEvent[Any]


def on_invoice_issued(p: Profiles, event: DecodedEvent[InvoiceIssued]) -> None:
    inv = event.payload
    p.ensure_account(
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
    p.issue_invoice(
        Invoice(
            invoice_id=inv.invoice_id,
            account_id=inv.account_id,
            amount=money(inv.amount),
            open_amount=None,
            currency=inv.currency,
            issued_on=inv.issued_on,
            due_on=inv.due_on,
        )
    )
    p.after(event.envelope, inv.account_id)


def on_invoice_adjusted(p: Profiles, event: DecodedEvent[InvoiceAdjusted]) -> None:
    adj = event.payload
    invoice = p.known_invoice(adj.invoice_id, adj.account_id)
    p.ensure_account(adj.account_id, adj.currency)
    p.adjust_invoice(invoice, adj.new_amount, adj.new_due_on)
    p.after(event.envelope, adj.account_id)


def on_invoice_cancelled(p: Profiles, event: DecodedEvent[InvoiceCancelled]) -> None:
    cancel = event.payload
    p.cancel_invoice(p.known_invoice(cancel.invoice_id, cancel.account_id))
    p.after(event.envelope, cancel.account_id)


def on_account_aged(p: Profiles, event: DecodedEvent[AccountAged]) -> None:
    aged = event.payload
    state = p.ensure_account(aged.account_id, aged.currency)
    p.record_aging(
        Aging(
            event_id=event.id,
            account_id=aged.account_id,
            currency=aged.currency,
            effective_on=local_today(event.envelope.time, p.accounts[aged.account_id]["timezone"]),
            bucket=aged.bucket,
            stage=aged.stage,
            days_past_due=aged.days_past_due,
            overdue_amount=money(aged.overdue_amount),
        ),
        state,
    )
    p.after(event.envelope, aged.account_id)


def _on_promise(
    p: Profiles, event: DecodedEvent[PromiseKept] | DecodedEvent[PromiseBroken], outcome: str
) -> None:
    promise = event.payload
    p.ensure_account(promise.account_id, promise.currency)
    p.record_promise(PromiseOutcome(promise.promise_id, promise.account_id, outcome, promise.due_on))
    p.after(event.envelope, promise.account_id)


def on_promise_kept(p: Profiles, event: DecodedEvent[PromiseKept]) -> None:
    _on_promise(p, event, "kept")


def on_promise_broken(p: Profiles, event: DecodedEvent[PromiseBroken]) -> None:
    _on_promise(p, event, "broken")


def on_payment_received(p: Profiles, event: DecodedEvent[PaymentReceived]) -> None:
    """A payment counts as on time when the account was current (per aging, in the payment's
    currency) as it arrived.

    Unidentified payments (no account) are reconciliation's to match; they are
    counted here once they arrive again with an account.
    """
    pay = event.payload
    if pay.account_id is None:
        return
    state = p.ensure_account(pay.account_id, pay.currency)
    p.record_payment(
        Payment(
            payment_id=pay.payment_id,
            account_id=pay.account_id,
            amount=money(pay.amount),
            currency=pay.currency,
            received_on=pay.received_on,
            on_time=state["days_past_due"] == 0,
        )
    )
    p.after(event.envelope, pay.account_id)


def on_payment_applied(p: Profiles, event: DecodedEvent[PaymentApplied]) -> None:
    """Reconciliation's application of a payment: the money truth for balances, and payment history.

    Invoices' open amounts and the credit balance are *set* from the event
    (``invoice_open_amount_after``, ``credit_balance_after``), so a redelivery
    changes nothing. The history row is keyed by payment id like
    ``payment.received``, so a payment seen on both topics is counted once.
    """
    applied = event.payload
    state = p.ensure_account(applied.account_id, applied.currency)
    p.record_payment(
        Payment(
            payment_id=applied.payment_id,
            account_id=applied.account_id,
            amount=money(applied.amount_applied + applied.credit_created),
            currency=applied.currency,
            received_on=applied.applied_on,
            on_time=state["days_past_due"] == 0,
        )
    )
    touched = p.set_open_amounts((a.invoice_id, a.invoice_open_amount_after) for a in applied.allocations)
    p.set_credit(applied.account_id, applied.currency, applied.credit_balance_after)
    for account_id in sorted(touched | {applied.account_id}):
        p.after(event.envelope, account_id)


def on_payment_reversal_applied(p: Profiles, event: DecodedEvent[PaymentReversalApplied]) -> None:
    """A reversal undone by reconciliation: its invoices owe again and its credit is gone."""
    reversal = event.payload
    touched = p.set_open_amounts((r.invoice_id, r.invoice_open_amount_after) for r in reversal.reopened)
    p.set_credit(reversal.account_id, reversal.currency, reversal.credit_balance_after)
    if reversal.account_id is not None and reversal.account_id in p.accounts:
        touched.add(reversal.account_id)
    for account_id in sorted(touched):
        p.after(event.envelope, account_id)


def on_payment_reversed(p: Profiles, event: DecodedEvent[PaymentReversed]) -> None:
    rev = event.payload
    # a reversal of a payment never seen here changes nothing in the profile
    if rev.account_id is not None and p.reverse_payment(rev.payment_id, rev.account_id):
        p.after(event.envelope, rev.account_id)


def on_customer_upserted(p: Profiles, event: DecodedEvent[CustomerUpserted]) -> None:
    """The customer master's profile reaches each account in ``account_ids`` and re-segments it.

    The customers topic is keyed by customer id, so the accounts come from the
    payload only. Accounts segmentation has not seen yet are left alone: an
    account starts with its first fact (which carries its currency), and its
    first invoice's customer snapshot fills the profile until the next upsert.
    """
    customer = event.payload
    profile: dict[str, Any] = {
        "customer_id": customer.customer_id,
        "customer_kind": customer.kind,
        "country": customer.country,
        "timezone": customer.timezone,
    }
    if customer.region is not None:
        profile["region"] = customer.region
    for account_id in p.update_customers(customer.account_ids, profile):
        p.resegment(event.envelope, account_id)


APPLY: dict[str, Callable[[Profiles, Any], None]] = {
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


def on_events(events: Sequence[Event], uow: UnitOfWork) -> None:
    """Profiles, scores and segments for one batch of one tenant, as one event at a time would."""
    profiles = store.load_profiles(uow.session, uow.tenant, store.scope_of(events), uow.now())
    for event in events:
        try:
            APPLY[event.envelope.type](profiles, event)
        except UnknownInvoice as exc:
            raise InvalidEvent(str(exc)) from exc
    segment_steps(uow, profiles)
    store.save_profiles(uow.session, uow.tenant, profiles)


BATCH_HANDLERS: dict[str, BatchHandler] = dict.fromkeys(APPLY, on_events)
