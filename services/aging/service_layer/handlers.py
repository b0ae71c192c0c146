"""aging's handlers: keep invoices' open amounts, re-age the account at once, and the nightly pass.

Payments reach aging only through reconciliation's allocation events
(``cobranza.payment.applied`` / ``cobranza.payment.reversal_applied``), which
carry each invoice's open amount *after* the allocation: aging sets it, so a
redelivery can never count a payment twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

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
from services.aging.adapters.orm import account_state, invoices
from services.aging.adapters.repository import (
    LapseChange,
    ReageResult,
    Scope,
    has_open_invoices,
    pending_timer_at,
    reage,
)
from services.aging.config import scheme_for
from services.aging.domain.rules import local_date, next_local_midnight, open_after_adjustment

MIDNIGHT_TIMER = "midnight"


def timer_key(tenant: str, timezone: str) -> str:
    return f"{tenant}|{timezone}"


def _ensure_midnight_timer(uow: UnitOfWork, timezone: str) -> None:
    """Keep one nightly timer per (tenant, timezone) in use; never postpone one already due."""
    key = timer_key(uow.tenant, timezone)
    at = next_local_midnight(uow.now(), timezone)
    pending = pending_timer_at(uow.session, MIDNIGHT_TIMER, key)
    if pending is None or pending > at:
        uow.schedule(MIDNIGHT_TIMER, key, at)


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


def reage_accounts(uow: UnitOfWork, account_ids: Iterable[str]) -> None:
    scheme = scheme_for(uow.extras, uow.tenant)
    for account_id in sorted(set(account_ids)):
        publish(reage(uow.session, Scope(uow.tenant, account_id=account_id), scheme, uow.now()), uow)


def on_invoice_issued(event: DecodedEvent[InvoiceIssued], uow: UnitOfWork) -> None:
    inv = event.payload
    scheme = scheme_for(uow.extras, uow.tenant)
    timezone = inv.customer.timezone
    uow.session.execute(
        pg_insert(invoices)
        .values(
            invoice_id=inv.invoice_id,
            tenant=uow.tenant,
            account_id=inv.account_id,
            amount=inv.amount,
            open_amount=inv.amount,
            currency=inv.currency,
            due_on=inv.due_on,
            timezone=timezone,
            product_line=inv.product_line,
            policy_number=inv.policy_number,
            grace_days=scheme.grace_for(inv.product_line),
            updated_at=uow.now(),
        )
        .on_conflict_do_nothing()
    )
    # A new account starts in the current bucket without an event; the debtor's latest timezone wins.
    stmt = pg_insert(account_state).values(
        tenant=uow.tenant,
        account_id=inv.account_id,
        currency=inv.currency,
        timezone=timezone,
        bucket=scheme.current,
        dpd=0,
        overdue_amount=Decimal(0),
        bucket_since=local_date(uow.now(), timezone),
        updated_at=uow.now(),
    )
    uow.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant", "account_id", "currency"], set_={"timezone": stmt.excluded.timezone}
        )
    )
    reage_accounts(uow, [inv.account_id])
    _ensure_midnight_timer(uow, timezone)


def _known_invoice(uow: UnitOfWork, invoice_id: str, path: str) -> tuple[str, Decimal, Decimal, str, str]:
    row = uow.session.execute(
        select(
            invoices.c.account_id,
            invoices.c.amount,
            invoices.c.open_amount,
            invoices.c.currency,
            invoices.c.status,
        )
        .where(invoices.c.invoice_id == invoice_id, invoices.c.tenant == uow.tenant)
        .with_for_update()
    ).one_or_none()
    if row is None:
        raise InvalidEvent(f"{path}: unknown invoice {invoice_id!r}")
    return row.account_id, row.amount, row.open_amount, row.currency, row.status


def on_invoice_adjusted(event: DecodedEvent[InvoiceAdjusted], uow: UnitOfWork) -> None:
    adj = event.payload
    account_id, amount, open_amount, currency, status = _known_invoice(uow, adj.invoice_id, "data.invoice_id")
    if currency != adj.currency:
        raise InvalidEvent(f"data.currency: invoice {adj.invoice_id} is in {currency}, not {adj.currency}")
    if status != "open":
        raise InvalidEvent(f"data.invoice_id: invoice {adj.invoice_id} is {status}")
    values: dict[str, object] = {
        "amount": adj.new_amount,
        "open_amount": open_after_adjustment(amount, open_amount, adj.new_amount),
        "updated_at": uow.now(),
    }
    if adj.new_due_on is not None:
        values["due_on"] = adj.new_due_on
    uow.session.execute(update(invoices).where(invoices.c.invoice_id == adj.invoice_id).values(**values))
    reage_accounts(uow, [account_id])


def on_invoice_cancelled(event: DecodedEvent[InvoiceCancelled], uow: UnitOfWork) -> None:
    cancel = event.payload
    account_id, *_ = _known_invoice(uow, cancel.invoice_id, "data.invoice_id")
    uow.session.execute(
        update(invoices)
        .where(invoices.c.invoice_id == cancel.invoice_id)
        .values(status="cancelled", open_amount=Decimal(0), updated_at=uow.now())
    )
    reage_accounts(uow, [account_id])


def set_open_amounts(uow: UnitOfWork, changes: list[tuple[str, Decimal]], path: str) -> None:
    """Set each invoice's open amount as reconciliation computed it, then re-age its account."""
    accounts = []
    for index, (invoice_id, open_after) in enumerate(changes):
        account_id, *_ = _known_invoice(uow, invoice_id, f"{path}.{index}.invoice_id")
        uow.session.execute(
            update(invoices)
            .where(invoices.c.invoice_id == invoice_id)
            .values(open_amount=open_after, updated_at=uow.now())
        )
        accounts.append(account_id)
    reage_accounts(uow, accounts)


def on_payment_applied(event: DecodedEvent[PaymentApplied], uow: UnitOfWork) -> None:
    changes = [(a.invoice_id, a.invoice_open_amount_after) for a in event.payload.allocations]
    set_open_amounts(uow, changes, "data.allocations")


def on_payment_reversal_applied(event: DecodedEvent[PaymentReversalApplied], uow: UnitOfWork) -> None:
    changes = [(r.invoice_id, r.invoice_open_amount_after) for r in event.payload.reopened]
    set_open_amounts(uow, changes, "data.reopened")


def on_midnight(due: DueTimer, uow: UnitOfWork) -> None:
    """The nightly pass for one tenant's timezone: re-age every open invoice and account there."""
    tenant, timezone = due.key.split("|", 1)
    scheme = scheme_for(uow.extras, tenant)
    publish(reage(uow.session, Scope(tenant, timezone=timezone), scheme, uow.now()), uow)
    if has_open_invoices(uow.session, tenant, timezone):
        uow.schedule(MIDNIGHT_TIMER, due.key, next_local_midnight(uow.now(), timezone))
