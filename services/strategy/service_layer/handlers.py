"""strategy's handlers: promises to pay and the contact plan of each account."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, and_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from libs.events.payloads.accounts import AccountAged
from libs.events.payloads.contacts import ContactDue
from libs.events.payloads.customers import CustomerUpserted
from libs.events.payloads.invoices import InvoiceIssued
from libs.events.payloads.payments import PaymentReceived
from libs.events.payloads.promises import PromiseBroken, PromiseKept, PromiseMade
from libs.events.payloads.segments import SegmentChanged
from libs.events.registry import DecodedEvent
from libs.runtime.uow import DueTimer, UnitOfWork
from services.strategy.adapters.orm import accounts, consents, contacts, payments, promises
from services.strategy.config import strategy_config
from services.strategy.domain.contact_policy import PastContact, next_allowed_slot, public_holidays
from services.strategy.domain.playbooks import Step, StrategyConfig
from services.strategy.domain.promises import OpenPromise, apply_payment, is_kept, promise_deadline

PROMISE_TIMER = "promise_deadline"
CONTACT_TIMER = "contact_step"
CURED_BUCKET = "current"


def _key(*parts: str) -> str:
    """A contact id from its parts; hashed when it would not fit an Identifier (128 chars)."""
    key = ":".join(parts)
    return key if len(key) <= 128 else hashlib.sha256(key.encode()).hexdigest()


def _account(
    uow: UnitOfWork, account_id: str, config: StrategyConfig
) -> tuple[str, str, str | None, str | None]:
    row = uow.session.execute(select(accounts).where(accounts.c.account_id == account_id)).first()
    if row is None:
        return config.default_timezone, config.default_country, None, None
    return (
        row.timezone or config.default_timezone,
        row.country or config.default_country,
        row.segment,
        row.bucket,
    )


def _upsert_account(uow: UnitOfWork, account_id: str, **values: object) -> None:
    values["updated_at"] = uow.now()
    uow.session.execute(
        pg_insert(accounts)
        .values(account_id=account_id, **values)
        .on_conflict_do_update(index_elements=["account_id"], set_=values)
    )


# --- promises to pay -------------------------------------------------------------------------


def on_promise_made(event: DecodedEvent[PromiseMade], uow: UnitOfWork) -> None:
    promise = event.payload
    config = strategy_config(uow.extras)
    zone, _, _, _ = _account(uow, promise.account_id, config)
    deadline = promise_deadline(promise.due_on, zone, config.promise_grace_days)
    made_on = event.envelope.time.astimezone(ZoneInfo(zone)).date()
    inserted = uow.session.execute(
        pg_insert(promises)
        .values(
            promise_id=promise.promise_id,
            account_id=promise.account_id,
            amount=promise.amount,
            paid_amount=Decimal(0),
            currency=promise.currency,
            due_on=promise.due_on,
            made_on=made_on,
            deadline=deadline,
            status="open",
        )
        .on_conflict_do_nothing()
        .returning(promises.c.promise_id)
    ).first()
    if inserted is not None:
        uow.schedule(PROMISE_TIMER, promise.promise_id, deadline)
        _settle(uow, promise.account_id)


def on_payment_received(event: DecodedEvent[PaymentReceived], uow: UnitOfWork) -> None:
    """Payments count toward the account's open promises in the payment's currency.

    Payments are kept with their unapplied rest, because a payment and the
    promise it honours travel on different topics and may arrive in either order.
    """
    payment = event.payload
    if payment.account_id is None:
        return
    uow.session.execute(
        pg_insert(payments)
        .values(
            payment_id=payment.payment_id,
            account_id=payment.account_id,
            amount=payment.amount,
            unapplied=payment.amount,
            currency=payment.currency,
            received_on=payment.received_on,
        )
        .on_conflict_do_nothing()
    )
    _settle(uow, payment.account_id)


def _settle(uow: UnitOfWork, account_id: str) -> None:
    """Count unapplied payments toward open promises; announce the promises that are now kept."""
    rows = uow.session.execute(
        select(promises)
        .where(promises.c.account_id == account_id, promises.c.status == "open")
        .with_for_update()
    ).all()
    if not rows:
        return
    pending = uow.session.execute(
        select(payments)
        .where(payments.c.account_id == account_id, payments.c.unapplied > 0)
        .order_by(payments.c.received_on, payments.c.payment_id)
        .with_for_update()
    ).all()
    state = {r.promise_id: OpenPromise(r.promise_id, r.amount, r.paid_amount, r.made_on) for r in rows}
    changed: set[str] = set()
    for pay in pending:
        candidates = [p for p in state.values() if rows_by(rows, p.promise_id).currency == pay.currency]
        updates, left = apply_payment(candidates, pay.unapplied, pay.received_on)
        if not updates:
            continue
        uow.session.execute(
            update(payments).where(payments.c.payment_id == pay.payment_id).values(unapplied=left)
        )
        for promise_id, paid in updates.items():
            old = state[promise_id]
            state[promise_id] = OpenPromise(promise_id, old.amount, paid, old.made_on)
            changed.add(promise_id)
    for promise_id in sorted(changed):
        row, paid = rows_by(rows, promise_id), state[promise_id].paid
        kept = is_kept(row.amount, paid)
        uow.session.execute(
            update(promises)
            .where(promises.c.promise_id == promise_id)
            .values(
                paid_amount=paid, status="kept" if kept else "open", resolved_at=uow.now() if kept else None
            )
        )
        if kept:
            uow.cancel(PROMISE_TIMER, promise_id)
            uow.emit(
                PromiseKept(
                    promise_id=promise_id,
                    account_id=row.account_id,
                    promised_amount=row.amount,
                    paid_amount=paid,
                    currency=row.currency,
                    due_on=row.due_on,
                )
            )


def rows_by(rows: Sequence[Row[Any]], promise_id: str) -> Row[Any]:
    return next(r for r in rows if r.promise_id == promise_id)


def on_promise_deadline(due: DueTimer, uow: UnitOfWork) -> None:
    row = uow.session.execute(
        select(promises).where(promises.c.promise_id == due.key).with_for_update()
    ).first()
    if row is None or row.status != "open":
        return
    kept = is_kept(row.amount, row.paid_amount)
    uow.session.execute(
        update(promises)
        .where(promises.c.promise_id == due.key)
        .values(status="kept" if kept else "broken", resolved_at=uow.now())
    )
    event_type = PromiseKept if kept else PromiseBroken
    uow.emit(
        event_type(
            promise_id=row.promise_id,
            account_id=row.account_id,
            promised_amount=row.amount,
            paid_amount=row.paid_amount,
            currency=row.currency,
            due_on=row.due_on,
        )
    )


# --- account facts ---------------------------------------------------------------------------


def on_customer_upserted(event: DecodedEvent[CustomerUpserted], uow: UnitOfWork) -> None:
    """Timezone, country and per-channel consent for each of the customer's accounts."""
    customer = event.payload
    consent: dict[str, bool] = {}
    for point in customer.contact_points:
        consent[point.channel] = consent.get(point.channel, False) or point.consent
    for account_id in customer.account_ids:
        _upsert_account(
            uow,
            account_id,
            customer_id=customer.customer_id,
            timezone=customer.timezone,
            country=customer.country,
        )
        for channel, allowed in consent.items():
            values = {"consent": allowed, "updated_at": uow.now()}
            uow.session.execute(
                pg_insert(consents)
                .values(account_id=account_id, channel=channel, **values)
                .on_conflict_do_update(index_elements=["account_id", "channel"], set_=values)
            )


def on_invoice_issued(event: DecodedEvent[InvoiceIssued], uow: UnitOfWork) -> None:
    """Record the debtor's zone and plan the playbook's pre-due reminders for this invoice."""
    invoice = event.payload
    config = strategy_config(uow.extras)
    _upsert_account(
        uow,
        invoice.account_id,
        customer_id=invoice.customer.customer_id,
        timezone=invoice.customer.timezone,
        country=invoice.customer.country,
    )
    zone, _, segment, bucket = _account(uow, invoice.account_id, config)
    playbook = config.playbook_for(segment, bucket)
    for step in playbook.pre_due_steps:
        assert step.days_before_due is not None
        day = invoice.due_on - timedelta(days=step.days_before_due)
        planned = datetime.combine(day, config.contact_time, tzinfo=ZoneInfo(zone))
        if planned < uow.now():
            continue
        contact_id = _key(invoice.account_id, invoice.invoice_id, step.name)
        _plan(uow, contact_id, invoice.account_id, "pre_due", playbook.name, step, planned)


def on_segment_changed(event: DecodedEvent[SegmentChanged], uow: UnitOfWork) -> None:
    change = event.payload
    _upsert_account(uow, change.account_id, segment=change.segment)
    _replan_dunning(uow, change.account_id, event.envelope.time)


def on_account_aged(event: DecodedEvent[AccountAged], uow: UnitOfWork) -> None:
    aged = event.payload
    _upsert_account(uow, aged.account_id, bucket=aged.bucket)
    if aged.bucket == CURED_BUCKET:
        _cancel_planned(uow, aged.account_id, "dunning", "account is current")
        return
    _replan_dunning(uow, aged.account_id, event.envelope.time)


# --- the contact plan ------------------------------------------------------------------------


def _plan(
    uow: UnitOfWork, contact_id: str, account_id: str, kind: str, playbook: str, step: Step, planned: datetime
) -> None:
    """Plan one step (again); a contact already made under the same id is left alone."""
    values = {
        "account_id": account_id,
        "channel": step.channel,
        "kind": kind,
        "playbook": playbook,
        "step": step.name,
        "template": step.template,
        "language": step.language,
        "planned_for": planned,
        "status": "planned",
        "reason": None,
    }
    replanned = uow.session.execute(
        pg_insert(contacts)
        .values(contact_id=contact_id, **values)
        .on_conflict_do_update(
            index_elements=["contact_id"],
            set_=values,
            where=contacts.c.status.in_(("planned", "cancelled")),
        )
        .returning(contacts.c.contact_id)
    ).first()
    if replanned is not None:
        uow.schedule(CONTACT_TIMER, contact_id, planned)


def _cancel_planned(uow: UnitOfWork, account_id: str, kind: str, reason: str) -> None:
    cancelled = uow.session.execute(
        update(contacts)
        .where(contacts.c.account_id == account_id, contacts.c.kind == kind, contacts.c.status == "planned")
        .values(status="cancelled", reason=reason)
        .returning(contacts.c.contact_id)
    ).scalars()
    for contact_id in cancelled:
        uow.cancel(CONTACT_TIMER, contact_id)


def _replan_dunning(uow: UnitOfWork, account_id: str, entered_at: datetime) -> None:
    """Replace the account's pending dunning steps with its current playbook's, from today."""
    config = strategy_config(uow.extras)
    zone, _, segment, bucket = _account(uow, account_id, config)
    if bucket is None or bucket == CURED_BUCKET:
        # nothing is overdue: a current account gets pre-due reminders, never dunning
        _cancel_planned(uow, account_id, "dunning", "account is current")
        return
    playbook = config.playbook_for(segment, bucket)
    _cancel_planned(uow, account_id, "dunning", f"replaced by playbook {playbook.name}")
    anchor: date = entered_at.astimezone(ZoneInfo(zone)).date()
    now = uow.now()
    for step in playbook.dunning_steps:
        assert step.day is not None
        planned = max(
            datetime.combine(anchor + timedelta(days=step.day), config.contact_time, tzinfo=ZoneInfo(zone)),
            now,
        )
        contact_id = _key(account_id, playbook.name, step.name, anchor.isoformat())
        _plan(uow, contact_id, account_id, "dunning", playbook.name, step, planned)


def on_contact_step(due: DueTimer, uow: UnitOfWork) -> None:
    """A planned step is due: check consent, fit it into the legal window and caps, announce it."""
    row = uow.session.execute(
        select(contacts).where(contacts.c.contact_id == due.key).with_for_update()
    ).first()
    if row is None or row.status != "planned":
        return
    config = strategy_config(uow.extras)
    zone, country, _, _ = _account(uow, row.account_id, config)
    reason = _skip_reason(uow, row.account_id, row.channel, row.kind)
    if reason is not None:
        uow.session.execute(
            update(contacts).where(contacts.c.contact_id == due.key).values(status="skipped", reason=reason)
        )
        return
    now = uow.now()
    history = [
        PastContact(r.channel, r.scheduled_for)
        for r in uow.session.execute(
            select(contacts.c.channel, contacts.c.scheduled_for).where(
                contacts.c.account_id == row.account_id,
                contacts.c.status == "due",
                contacts.c.scheduled_for >= now - timedelta(days=8),
            )
        )
    ]
    slot = next_allowed_slot(
        now,
        row.channel,
        timezone=zone,
        is_holiday=public_holidays(country),
        history=history,
        policy=config.policy,
    )
    uow.session.execute(
        update(contacts).where(contacts.c.contact_id == due.key).values(status="due", scheduled_for=slot)
    )
    uow.emit(
        ContactDue(
            contact_id=row.contact_id,
            account_id=row.account_id,
            channel=row.channel,
            scheduled_for=slot,
            strategy=row.playbook,
            step=row.step,
            template=row.template,
            language=row.language,
        )
    )


def _skip_reason(uow: UnitOfWork, account_id: str, channel: str, kind: str) -> str | None:
    consent = uow.session.execute(
        select(consents.c.consent).where(consents.c.account_id == account_id, consents.c.channel == channel)
    ).scalar()
    if consent is False:
        return f"no consent for {channel}"
    if kind == "dunning":
        open_promise = uow.session.execute(
            select(promises.c.promise_id).where(
                and_(promises.c.account_id == account_id, promises.c.status == "open")
            )
        ).first()
        if open_promise is not None:
            return "an open promise to pay"
    return None
