"""reporting's projections, one batch handler per topic family, each touching a table once per batch.

A call holds the events of one tenant in delivery order (one account's never reordered, see
docs/writing-a-service.md). Each handler folds its events into what applying them one at a
time would leave (``services/reporting/domain``) and writes that with one multi-row statement
per table; what earlier batches stored is guarded in the SQL by the same rules
(``services/reporting/domain/money.py``), so a late older event never overwrites newer state.

Balances come from reconciliation's allocations (``payment.*applied``), never from raw
``payment.received``, which only feeds the "payments received" KPI. Reporting emits nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from libs.bucket_scheme import first_bucket
from libs.events.payloads.accounts import AccountAged
from libs.events.payloads.allocations import PaymentApplied, PaymentReversalApplied, PaymentUnapplied
from libs.events.payloads.contacts import ContactDue, ContactOutcome
from libs.events.payloads.invoices import InvoiceAdjusted, InvoiceCancelled, InvoiceIssued
from libs.events.payloads.payments import PaymentReceived, PaymentReversed
from libs.events.payloads.promises import PromiseBroken, PromiseKept, PromiseMade
from libs.events.registry import DecodedEvent, InvalidEvent
from libs.runtime.uow import UnitOfWork
from services.reporting.adapters import repository as repo
from services.reporting.domain import invoices as book_of
from services.reporting.domain.buckets import FirstBucket, first_bucket_evidence
from services.reporting.domain.money import last_mention_per_invoice, latest, state_rank

Events = Sequence[DecodedEvent[Any]]


def _scheme_first_bucket(uow: UnitOfWork) -> None:
    """Accounts aging never announced sit in the scheme's first bucket (rows this batch may create)."""
    first = first_bucket(uow.extras.get("config_dir"), uow.tenant)
    if first is not None:
        repo.scheme_first_bucket(uow.session, uow.tenant, first)


def on_invoices(events: Events, uow: UnitOfWork) -> None:
    """invoice.issued / adjusted / cancelled: the batch's invoices read once, folded, written back."""
    now = uow.now()
    stored = repo.lock_invoices(uow.session, uow.tenant, (e.payload.invoice_id for e in events))
    book = dict(stored)
    changed: set[str] = set()
    dims: list[tuple[repo.AccountKey, Any, repo.Dimensions]] = []
    for event in events:
        p = event.payload
        try:
            if isinstance(p, InvoiceIssued):
                issue = book_of.Issue(
                    p.invoice_id, p.account_id, p.currency, p.amount, p.issued_on, p.due_on, p.product_line
                )
                touched = book_of.issue(book, issue, now)
                key = (p.account_id, p.currency)
                dims.append(
                    (
                        key,
                        p.issued_on,
                        repo.Dimensions(p.product_line, p.advisor_id, p.office_id, p.agency_id, p.issued_on),
                    )
                )
            elif isinstance(p, InvoiceAdjusted):
                touched = book_of.adjust(
                    book,
                    invoice_id=p.invoice_id,
                    account_id=p.account_id,
                    currency=p.currency,
                    new_amount=p.new_amount,
                    new_due_on=p.new_due_on,
                    event_id=event.id,
                    now=now,
                )
            else:
                assert isinstance(p, InvoiceCancelled)
                touched = book_of.cancel(book, invoice_id=p.invoice_id, account_id=p.account_id, now=now)
        except book_of.InvoiceMismatch as exc:
            raise InvalidEvent(str(exc), event.envelope) from exc
        if touched:
            changed.add(p.invoice_id)
    repo.write_invoices(uow.session, uow.tenant, [book[i] for i in sorted(changed)], stored, now)
    repo.set_dimensions(uow.session, uow.tenant, {k: d for k, (_, d) in latest(dims).items()}, now)
    _scheme_first_bucket(uow)


def on_account_aged(events: Events, uow: UnitOfWork) -> None:
    """Per (account, currency), named as the tenant's scheme names it; may overtake the invoice.

    Also learns the tenant's first bucket (``domain/buckets.py``), which aging never announces.
    """
    aged: list[tuple[AccountAged, Any]] = [(e.payload, e.envelope.time) for e in events]
    seen = repo.announced(uow.session, uow.tenant, ((a.account_id, a.currency) for a, _ in aged))
    evidence: list[tuple[str, Any, FirstBucket]] = []
    for a, as_of in aged:
        key = (a.account_id, a.currency)
        first = first_bucket_evidence(a, announced_before=key in seen)
        seen.add(key)
        if first is not None:
            evidence.append((uow.tenant, as_of, first))
    for _, (as_of, first) in latest(evidence).items():
        repo.learn_first_bucket(uow.session, uow.tenant, first, as_of)
    buckets = latest(
        ((a.account_id, a.currency), as_of, repo.Aging(a.bucket, a.stage, a.days_past_due))
        for a, as_of in aged
    )
    repo.set_buckets(uow.session, uow.tenant, buckets, uow.now())


def on_allocations(events: Events, uow: UnitOfWork) -> None:
    """payment.applied / unapplied / reversal_applied: settled amounts, credit and payments' places.

    Invoices and credit take the newest allocation naming them; a payment its furthest place.
    """
    now = uow.now()
    settlements: list[tuple[str, Any, repo.Settlement]] = []
    first_owner: dict[str, tuple[str, str]] = {}
    credits: list[tuple[repo.AccountKey, Any, Decimal]] = []
    placements: dict[str, repo.Placement] = {}
    for event in events:
        p = event.payload
        as_of, cause = event.envelope.time, event.envelope.causationid
        if isinstance(p, PaymentApplied | PaymentReversalApplied):
            changes = p.allocations if isinstance(p, PaymentApplied) else p.reopened
            state = "applied" if isinstance(p, PaymentApplied) else "reversed"
            if p.account_id is not None:
                named = last_mention_per_invoice((c.invoice_id, c) for c in changes)
                for invoice_id, c in named.items():
                    owner = first_owner.setdefault(invoice_id, (p.account_id, p.currency))
                    settlement = repo.Settlement(
                        invoice_id,
                        *owner,
                        c.invoice_open_amount_after,
                        c.invoice_settled_after,
                        as_of,
                        cause,
                    )
                    settlements.append((invoice_id, as_of, settlement))
                credits.append(((p.account_id, p.currency), as_of, p.credit_balance_after))
            _place(placements, p.payment_id, state, p.currency, p.account_id)
        else:
            assert isinstance(p, PaymentUnapplied)
            _place(
                placements,
                p.payment_id,
                "suspense",
                p.currency,
                p.account_id,
                suspense=(p.amount, p.reason, p.received_on),
            )
    repo.settle_invoices(uow.session, uow.tenant, [s for _, s in latest(settlements).values()], now)
    repo.set_credits(uow.session, uow.tenant, latest(credits), now)
    repo.place_payments(uow.session, uow.tenant, list(placements.values()), now)
    _scheme_first_bucket(uow)


def _place(
    placements: dict[str, repo.Placement],
    payment_id: str,
    state: str,
    currency: str,
    account_id: str | None,
    suspense: tuple[Decimal, str, Any] | None = None,
) -> None:
    """Fold one more word of reconciliation's on a payment: furthest state, last of what was said."""
    amount, reason, received_on = suspense or (None, None, None)
    held = placements.get(payment_id)
    if held is None:
        placements[payment_id] = repo.Placement(
            payment_id, state, currency, account_id, amount, reason, received_on
        )
        return
    placements[payment_id] = repo.Placement(
        payment_id,
        state if state_rank(held.state) <= state_rank(state) else held.state,
        held.currency,
        account_id if account_id is not None else held.account_id,
        amount if amount is not None else held.suspense_amount,
        reason if reason is not None else held.suspense_reason,
        received_on if received_on is not None else held.received_on,
    )


def on_payments(events: Events, uow: UnitOfWork) -> None:
    """payment.received / reversed: the "payments received" KPI only (money is applied by reconciliation)."""
    received: dict[str, repo.Received] = {}
    reversed_ids: set[str] = set()
    for event in events:
        p = event.payload
        if isinstance(p, PaymentReceived):
            if p.payment_id not in received:  # the first report stands
                received[p.payment_id] = repo.Received(
                    p.payment_id, p.account_id, p.amount, p.currency, p.received_on, reversed=False
                )
        else:
            assert isinstance(p, PaymentReversed)
            reversed_ids.add(p.payment_id)
            held = received.get(p.payment_id)
            if held is not None and not held.reversed:
                received[p.payment_id] = repo.Received(
                    held.payment_id,
                    held.account_id,
                    held.amount,
                    held.currency,
                    held.received_on,
                    reversed=True,
                )
    repo.record_received(uow.session, uow.tenant, list(received.values()), reversed_ids)


def on_promises(events: Events, uow: UnitOfWork) -> None:
    """promise.made opens a promise (never over a stored one); kept/broken overwrite it."""
    rows: dict[str, repo.PromiseRow] = {}
    for event in events:
        p = event.payload
        if isinstance(p, PromiseMade):
            if p.promise_id not in rows:
                rows[p.promise_id] = repo.PromiseRow(
                    p.promise_id, p.account_id, p.amount, Decimal(0), p.currency, p.due_on, "open"
                )
        else:
            assert isinstance(p, PromiseKept | PromiseBroken)
            rows[p.promise_id] = repo.PromiseRow(
                p.promise_id,
                p.account_id,
                p.promised_amount,
                p.paid_amount,
                p.currency,
                p.due_on,
                "kept" if isinstance(p, PromiseKept) else "broken",
            )
    repo.upsert_promises(uow.session, uow.tenant, list(rows.values()), uow.now())


def on_contacts(events: Events, uow: UnitOfWork) -> None:
    """contact.due creates a contact (never over a stored one); an outcome sets its latest status."""
    rows: dict[str, repo.ContactRow] = {}
    for event in events:
        c = event.payload
        held = rows.get(c.contact_id)
        if isinstance(c, ContactDue):
            if held is None:
                rows[c.contact_id] = repo.ContactRow(
                    c.contact_id, c.account_id, c.channel, c.strategy, c.step, "due"
                )
        else:
            assert isinstance(c, ContactOutcome)
            rows[c.contact_id] = repo.ContactRow(
                c.contact_id,
                c.account_id,
                c.channel,
                held.strategy if held is not None else None,
                held.step if held is not None else None,
                c.status,
            )
    repo.upsert_contacts(uow.session, uow.tenant, list(rows.values()), uow.now())
