"""aging's handlers: keep invoices' open amounts, re-age the account at once, and the nightly pass.

Payments reach aging only through reconciliation's allocation events
(``cobranza.payment.applied`` / ``cobranza.payment.reversal_applied``), which
carry each invoice's open amount *after* the allocation: aging sets it, so a
redelivery can never count a payment twice. An allocation can overtake its
invoice (aging reads the invoices and allocations topics independently): its
open amount waits in ``early_open_amounts`` and becomes the invoice's open
amount when the invoice arrives, so no payment is lost to the race.

Every row is the tenant's (``uow.tenant``); ids are opaque within it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal

from sqlalchemy import delete, select, text, update
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
from services.aging.adapters.orm import account_state, early_open_amounts, invoices
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
    pending = pending_timer_at(uow.session, uow.tenant, MIDNIGHT_TIMER, key)
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


def reage_accounts(uow: UnitOfWork, account_ids: Iterable[str]) -> None:
    """Re-age the tenant's given accounts in one set-based pass and announce what changed."""
    accounts = tuple(sorted(set(account_ids)))
    if not accounts:
        return
    scheme = scheme_for(uow.extras, uow.tenant)
    publish(reage(uow.session, Scope(uow.tenant, account_ids=accounts), scheme, uow.now()), uow)


def on_invoice_issued(event: DecodedEvent[InvoiceIssued], uow: UnitOfWork) -> None:
    inv = event.payload
    scheme = scheme_for(uow.extras, uow.tenant)
    timezone = inv.customer.timezone
    early = uow.session.execute(
        delete(early_open_amounts)
        .where(
            early_open_amounts.c.tenant_id == uow.tenant, early_open_amounts.c.invoice_id == inv.invoice_id
        )
        .returning(early_open_amounts.c.open_amount)
    ).scalar()
    uow.session.execute(
        pg_insert(invoices)
        .values(
            tenant_id=uow.tenant,
            invoice_id=inv.invoice_id,
            account_id=inv.account_id,
            amount=inv.amount,
            open_amount=inv.amount if early is None else early,
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
        tenant_id=uow.tenant,
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
            index_elements=["tenant_id", "account_id", "currency"], set_={"timezone": stmt.excluded.timezone}
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
        .where(invoices.c.tenant_id == uow.tenant, invoices.c.invoice_id == invoice_id)
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
    uow.session.execute(
        update(invoices)
        .where(invoices.c.tenant_id == uow.tenant, invoices.c.invoice_id == adj.invoice_id)
        .values(**values)
    )
    reage_accounts(uow, [account_id])


def on_invoice_cancelled(event: DecodedEvent[InvoiceCancelled], uow: UnitOfWork) -> None:
    cancel = event.payload
    account_id, *_ = _known_invoice(uow, cancel.invoice_id, "data.invoice_id")
    uow.session.execute(
        update(invoices)
        .where(invoices.c.tenant_id == uow.tenant, invoices.c.invoice_id == cancel.invoice_id)
        .values(status="cancelled", open_amount=Decimal(0), updated_at=uow.now())
    )
    reage_accounts(uow, [account_id])


_SET_OPEN_AMOUNTS = text(
    """
    UPDATE aging.invoices i
       SET open_amount = c.open_after, updated_at = :now
      FROM unnest(CAST(:invoice_ids AS text[]), CAST(:open_after AS numeric[])) AS c(invoice_id, open_after)
     WHERE i.tenant_id = :tenant AND i.invoice_id = c.invoice_id
    RETURNING i.invoice_id, i.account_id
    """
)


def set_open_amounts(
    uow: UnitOfWork, account_id: str | None, payment_id: str, changes: list[tuple[str, Decimal]]
) -> None:
    """Set each invoice's open amount as reconciliation computed it (one statement), then re-age.

    An invoice not issued here yet keeps its open amount in ``early_open_amounts``
    until ``invoice.issued`` arrives (the latest allocation wins, as the
    allocations topic keeps one account's events in order).
    """
    latest = dict(changes)  # one allocation per invoice; the last one wins
    if not latest:
        return
    found = uow.session.execute(
        _SET_OPEN_AMOUNTS,
        {
            "now": uow.now(),
            "tenant": uow.tenant,
            "invoice_ids": list(latest),
            "open_after": list(latest.values()),
        },
    ).all()
    known = {row.invoice_id for row in found}
    early = [
        {
            "tenant_id": uow.tenant,
            "invoice_id": invoice_id,
            "account_id": account_id,
            "open_amount": open_after,
            "payment_id": payment_id,
            "received_at": uow.now(),
        }
        for invoice_id, open_after in latest.items()
        if invoice_id not in known
    ]
    if early:
        stmt = pg_insert(early_open_amounts).values(early)
        uow.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant_id", "invoice_id"],
                set_={
                    "account_id": stmt.excluded.account_id,
                    "open_amount": stmt.excluded.open_amount,
                    "payment_id": stmt.excluded.payment_id,
                    "received_at": stmt.excluded.received_at,
                },
            )
        )
    reage_accounts(uow, [row.account_id for row in found])


def on_payment_applied(event: DecodedEvent[PaymentApplied], uow: UnitOfWork) -> None:
    applied = event.payload
    changes = [(a.invoice_id, a.invoice_open_amount_after) for a in applied.allocations]
    set_open_amounts(uow, applied.account_id, applied.payment_id, changes)


def on_payment_reversal_applied(event: DecodedEvent[PaymentReversalApplied], uow: UnitOfWork) -> None:
    reversal = event.payload
    changes = [(r.invoice_id, r.invoice_open_amount_after) for r in reversal.reopened]
    set_open_amounts(uow, reversal.account_id, reversal.payment_id, changes)


def on_midnight(due: DueTimer, uow: UnitOfWork) -> None:
    """The nightly pass for one tenant's timezone: re-age every open invoice and account there."""
    tenant, timezone = due.key.split("|", 1)
    scheme = scheme_for(uow.extras, tenant)
    publish(reage(uow.session, Scope(tenant, timezone=timezone), scheme, uow.now()), uow)
    if has_open_invoices(uow.session, tenant, timezone):
        uow.schedule(MIDNIGHT_TIMER, due.key, next_local_midnight(uow.now(), timezone))
