"""strategy's handlers: promises to pay and the contact plan of each (account, currency).

Every row is the tenant's (``uow.tenant``): the same account or promise id in two tenants is
two accounts or promises. Money comes only from reconciliation's allocations
(``payment.applied`` / ``payment.reversal_applied``), never from raw ``payment.received``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Row, and_, bindparam, case, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from libs.events.payloads.accounts import AccountAged
from libs.events.payloads.allocations import PaymentApplied, PaymentReversalApplied
from libs.events.payloads.contacts import ContactDue
from libs.events.payloads.customers import CustomerUpserted
from libs.events.payloads.invoices import InvoiceIssued
from libs.events.payloads.promises import PromiseBroken, PromiseKept, PromiseMade
from libs.events.payloads.segments import SegmentChanged
from libs.events.registry import DecodedEvent
from libs.runtime.uow import DueTimer, UnitOfWork
from services.strategy.adapters.orm import (
    account_buckets,
    accounts,
    consents,
    contacts,
    payments,
    promise_payments,
    promises,
)
from services.strategy.config import bucket_stages, strategy_config
from services.strategy.domain.contact_policy import PastContact, next_allowed_slot, public_holidays
from services.strategy.domain.cure import is_cured
from services.strategy.domain.playbooks import Step, StrategyConfig
from services.strategy.domain.promises import (
    ZERO,
    AvailableCash,
    OpenPromise,
    is_kept,
    promise_deadline,
    settle,
    status_after_reversal,
)

PROMISE_TIMER = "promise_deadline"
CONTACT_TIMER = "contact_step"


def _key(*parts: str) -> str:
    """A contact id from its parts; hashed when it would not fit an Identifier (128 chars)."""
    key = ":".join(parts)
    return key if len(key) <= 128 else hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class AccountFacts:
    account_id: str
    timezone: str
    country: str
    segment: str | None


def _touch_account(uow: UnitOfWork, account_id: str, **values: object) -> AccountFacts:
    """Create or update the tenant's account row and return what planning needs of it."""
    config = strategy_config(uow.extras)
    row = _upsert_accounts(uow, [account_id], **values)[0]
    return AccountFacts(
        account_id,
        row.timezone or config.default_timezone,
        row.country or config.default_country,
        row.segment,
    )


def _facts(uow: UnitOfWork, account_id: str, config: StrategyConfig) -> AccountFacts:
    row = uow.session.execute(
        select(accounts.c.timezone, accounts.c.country, accounts.c.segment).where(
            accounts.c.tenant_id == uow.tenant, accounts.c.account_id == account_id
        )
    ).first()
    if row is None:
        return AccountFacts(account_id, config.default_timezone, config.default_country, None)
    return AccountFacts(
        account_id,
        row.timezone or config.default_timezone,
        row.country or config.default_country,
        row.segment,
    )


def _upsert_accounts(uow: UnitOfWork, account_ids: Sequence[str], **values: object) -> Sequence[Row[Any]]:
    """One multi-row upsert: ``values`` are set on every account, other columns are left alone."""
    now = uow.now()
    stmt = pg_insert(accounts).values(
        [{"tenant_id": uow.tenant, "account_id": a, **values, "updated_at": now} for a in account_ids]
    )
    changed = [*values, "updated_at"]
    return uow.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[accounts.c.tenant_id, accounts.c.account_id],
            set_={name: stmt.excluded[name] for name in changed},
        ).returning(accounts.c.timezone, accounts.c.country, accounts.c.segment)
    ).all()


# --- promises to pay -------------------------------------------------------------------------


def on_promise_made(event: DecodedEvent[PromiseMade], uow: UnitOfWork) -> None:
    promise = event.payload
    config = strategy_config(uow.extras)
    facts = _touch_account(uow, promise.account_id)
    deadline = promise_deadline(promise.due_on, facts.timezone, config.promise_grace_days)
    made_on = event.envelope.time.astimezone(ZoneInfo(facts.timezone)).date()
    inserted = uow.session.execute(
        pg_insert(promises)
        .values(
            tenant_id=uow.tenant,
            promise_id=promise.promise_id,
            account_id=promise.account_id,
            amount=promise.amount,
            paid_amount=ZERO,
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
        _settle(uow, promise.account_id, promise.currency)


def on_payment_applied(event: DecodedEvent[PaymentApplied], uow: UnitOfWork) -> None:
    """Cash reconciliation put on the account counts toward its open promises in that currency.

    The cash of a payment is what its first application put on the account (on invoices plus
    the credit it left), whether matched at once, from suspense (by an invoice or a customer
    link, even as plain credit) or by hand. Later applications of the same payment only move
    that cash between credit and invoices (credit used by a new invoice, freed by a cancelled
    one), so they add nothing: the payment is counted once, keyed by (tenant, payment id).
    """
    applied = event.payload
    cash = applied.amount_applied + applied.credit_created
    if cash <= 0:
        return
    _touch_account(uow, applied.account_id)
    inserted = uow.session.execute(
        pg_insert(payments)
        .values(
            tenant_id=uow.tenant,
            payment_id=applied.payment_id,
            account_id=applied.account_id,
            currency=applied.currency,
            amount=cash,
            unapplied=cash,
            paid_on=applied.applied_on,
            arrived_at=event.envelope.time,
        )
        .on_conflict_do_nothing()
        .returning(payments.c.payment_id)
    ).first()
    if inserted is not None:
        _settle(uow, applied.account_id, applied.currency)


def on_payment_reversal_applied(event: DecodedEvent[PaymentReversalApplied], uow: UnitOfWork) -> None:
    """A reversed payment (bounced cheque, returned debit) takes back what it counted toward promises."""
    reversal = event.payload
    if reversal.account_id is None:
        return  # reversed while still in suspense: it never counted toward anything
    _touch_account(uow, reversal.account_id)
    now = uow.now()
    # a tombstone when strategy never saw the cash, so a redelivered application cannot count it
    stmt = pg_insert(payments).values(
        tenant_id=uow.tenant,
        payment_id=reversal.payment_id,
        account_id=reversal.account_id,
        currency=reversal.currency,
        amount=ZERO,
        unapplied=ZERO,
        paid_on=reversal.reversed_on,
        arrived_at=event.envelope.time,
        reversed_at=now,
    )
    uow.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[payments.c.tenant_id, payments.c.payment_id],
            set_={"unapplied": ZERO, "reversed_at": stmt.excluded.reversed_at},
            where=payments.c.reversed_at.is_(None),
        )
    )
    taken = {
        r.promise_id: r.amount
        for r in uow.session.execute(
            promise_payments.delete()
            .where(
                promise_payments.c.tenant_id == uow.tenant,
                promise_payments.c.payment_id == reversal.payment_id,
            )
            .returning(promise_payments.c.promise_id, promise_payments.c.amount)
        )
    }
    if taken:
        _take_back(uow, taken)
    _settle(uow, reversal.account_id, reversal.currency)


def _take_back(uow: UnitOfWork, taken: Mapping[str, Decimal]) -> None:
    """Lower the promises' paid amounts; a kept promise left short reopens or, past due, breaks."""
    now = uow.now()
    rows = uow.session.execute(
        select(promises)
        .where(promises.c.tenant_id == uow.tenant, promises.c.promise_id.in_(sorted(taken)))
        .order_by(promises.c.promise_id)
        .with_for_update()
    ).all()
    changes: list[dict[str, Any]] = []
    broken: list[PromiseBroken] = []
    for row in rows:
        paid = max(row.paid_amount - taken[row.promise_id], ZERO)
        status = status_after_reversal(row.status, row.amount, paid, row.deadline, now)
        resolved_at = None if status == "open" else (row.resolved_at if status == row.status else now)
        changes.append(
            {"b_id": row.promise_id, "b_paid": paid, "b_status": status, "b_resolved": resolved_at}
        )
        if status == "open" and row.status == "kept":
            uow.schedule(PROMISE_TIMER, row.promise_id, row.deadline)
        if status == "broken" and row.status == "kept":
            broken.append(_outcome(PromiseBroken, row, paid))
    _write_promises(uow, changes)
    uow.emit_many(broken)


def _write_promises(uow: UnitOfWork, changes: list[dict[str, Any]]) -> None:
    if not changes:
        return
    uow.session.execute(
        update(promises)
        .where(promises.c.tenant_id == uow.tenant, promises.c.promise_id == bindparam("b_id"))
        .values(
            paid_amount=bindparam("b_paid"),
            status=bindparam("b_status"),
            resolved_at=bindparam("b_resolved"),
        ),
        changes,
    )


def _settle(uow: UnitOfWork, account_id: str, currency: str) -> None:
    """Count the account's available cash toward its promises in ``currency``; announce the kept ones.

    Callers hold the account row's lock (``_touch_account``), so one account is settled by one
    transaction at a time. Candidates are the open promises and the broken ones whose deadline
    is later than some available cash: money applied before the deadline that strategy saw only
    after the deadline timer fired (consumer lag) still keeps the promise.
    """
    t = uow.tenant
    cash_rows = uow.session.execute(
        select(payments)
        .where(
            payments.c.tenant_id == t,
            payments.c.account_id == account_id,
            payments.c.currency == currency,
            payments.c.unapplied > 0,
            payments.c.reversed_at.is_(None),
        )
        .order_by(payments.c.payment_id)
        .with_for_update()
    ).all()
    if not cash_rows:
        return
    earliest = min(r.arrived_at for r in cash_rows)
    open_rows = uow.session.execute(
        select(promises)
        .where(
            promises.c.tenant_id == t,
            promises.c.account_id == account_id,
            promises.c.currency == currency,
            or_(
                promises.c.status == "open",
                and_(promises.c.status == "broken", promises.c.deadline > earliest),
            ),
        )
        .order_by(promises.c.promise_id)
        .with_for_update()
    ).all()
    if not open_rows:
        return
    result = settle(
        [OpenPromise(r.promise_id, r.amount, r.paid_amount, r.made_on, r.deadline) for r in open_rows],
        [AvailableCash(r.payment_id, r.unapplied, r.paid_on, r.arrived_at) for r in cash_rows],
    )
    if not result.contributions:
        return
    stmt = pg_insert(promise_payments).values(
        [
            {"tenant_id": t, "promise_id": promise_id, "payment_id": payment_id, "amount": amount}
            for (promise_id, payment_id), amount in sorted(result.contributions.items())
        ]
    )
    uow.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[
                promise_payments.c.tenant_id,
                promise_payments.c.promise_id,
                promise_payments.c.payment_id,
            ],
            set_={"amount": promise_payments.c.amount + stmt.excluded.amount},
        )
    )
    uow.session.execute(
        update(payments)
        .where(payments.c.tenant_id == t, payments.c.payment_id == bindparam("b_id"))
        .values(unapplied=bindparam("b_left")),
        [{"b_id": payment_id, "b_left": left} for payment_id, left in sorted(result.left.items())],
    )
    now = uow.now()
    by_id = {r.promise_id: r for r in open_rows}
    changes: list[dict[str, Any]] = []
    kept: list[PromiseKept] = []
    for promise_id, paid in sorted(result.paid.items()):
        row = by_id[promise_id]
        done = is_kept(row.amount, paid)
        changes.append(
            {
                "b_id": promise_id,
                "b_paid": paid,
                "b_status": "kept" if done else row.status,
                "b_resolved": now if done else row.resolved_at,
            }
        )
        if done:
            uow.cancel(PROMISE_TIMER, promise_id)
            kept.append(_outcome(PromiseKept, row, paid))
    _write_promises(uow, changes)
    uow.emit_many(kept)


Outcome = TypeVar("Outcome", PromiseKept, PromiseBroken)


def _outcome(kind: type[Outcome], row: Row[Any], paid: Decimal) -> Outcome:
    return kind(
        promise_id=row.promise_id,
        account_id=row.account_id,
        promised_amount=row.amount,
        paid_amount=paid,
        currency=row.currency,
        due_on=row.due_on,
    )


def on_promise_deadline(due: DueTimer, uow: UnitOfWork) -> None:
    row = uow.session.execute(
        select(promises)
        .where(promises.c.tenant_id == uow.tenant, promises.c.promise_id == due.key)
        .with_for_update()
    ).first()
    if row is None or row.status != "open":
        return
    kept = is_kept(row.amount, row.paid_amount)
    _write_promises(
        uow,
        [
            {
                "b_id": row.promise_id,
                "b_paid": row.paid_amount,
                "b_status": "kept" if kept else "broken",
                "b_resolved": uow.now(),
            }
        ],
    )
    if kept:
        uow.emit(_outcome(PromiseKept, row, row.paid_amount))
    else:
        uow.emit(_outcome(PromiseBroken, row, row.paid_amount))


# --- account facts ---------------------------------------------------------------------------


def on_customer_upserted(event: DecodedEvent[CustomerUpserted], uow: UnitOfWork) -> None:
    """Timezone, country and per-channel consent for each account the payload names.

    The customers topic is keyed by customer id: the accounts come from ``account_ids``,
    never from the envelope's subject.
    """
    customer = event.payload
    account_ids = sorted(set(customer.account_ids))
    if not account_ids:
        return
    _upsert_accounts(
        uow,
        account_ids,
        customer_id=customer.customer_id,
        timezone=customer.timezone,
        country=customer.country,
    )
    consent: dict[str, bool] = {}
    for point in customer.contact_points:
        consent[point.channel] = consent.get(point.channel, False) or point.consent
    if not consent:
        return
    now = uow.now()
    stmt = pg_insert(consents).values(
        [
            {"tenant_id": uow.tenant, "account_id": a, "channel": ch, "consent": ok, "updated_at": now}
            for a in account_ids
            for ch, ok in sorted(consent.items())
        ]
    )
    uow.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[consents.c.tenant_id, consents.c.account_id, consents.c.channel],
            set_={"consent": stmt.excluded.consent, "updated_at": stmt.excluded.updated_at},
        )
    )


def on_invoice_issued(event: DecodedEvent[InvoiceIssued], uow: UnitOfWork) -> None:
    """Record the debtor's zone and plan the playbook's pre-due reminders for this invoice."""
    invoice = event.payload
    config = strategy_config(uow.extras)
    facts = _touch_account(
        uow,
        invoice.account_id,
        customer_id=invoice.customer.customer_id,
        timezone=invoice.customer.timezone,
        country=invoice.customer.country,
    )
    bucket = uow.session.execute(
        select(account_buckets.c.bucket).where(
            account_buckets.c.tenant_id == uow.tenant,
            account_buckets.c.account_id == invoice.account_id,
            account_buckets.c.currency == invoice.currency,
        )
    ).scalar()
    playbook = config.playbook_for(facts.segment, bucket)
    planned: list[PlannedContact] = []
    for step in playbook.pre_due_steps:
        assert step.days_before_due is not None
        day = invoice.due_on - timedelta(days=step.days_before_due)
        at = datetime.combine(day, config.contact_time, tzinfo=ZoneInfo(facts.timezone))
        if at < uow.now():
            continue
        contact_id = _key(invoice.account_id, invoice.invoice_id, step.name)
        planned.append(PlannedContact(contact_id, invoice.currency, "pre_due", playbook.name, step, at))
    _plan(uow, invoice.account_id, planned)


def on_segment_changed(event: DecodedEvent[SegmentChanged], uow: UnitOfWork) -> None:
    """The segment's playbook replaces the pending dunning of every currency still overdue."""
    change = event.payload
    facts = _touch_account(uow, change.account_id, segment=change.segment)
    overdue = uow.session.execute(
        select(account_buckets.c.currency, account_buckets.c.bucket)
        .where(
            account_buckets.c.tenant_id == uow.tenant,
            account_buckets.c.account_id == change.account_id,
            account_buckets.c.cured.is_(False),
        )
        .order_by(account_buckets.c.currency)
    ).all()
    _replan_dunning(uow, facts, {r.currency: r.bucket for r in overdue}, event.envelope.time)


def on_account_aged(event: DecodedEvent[AccountAged], uow: UnitOfWork) -> None:
    """The (account, currency)'s bucket: cured cancels that currency's dunning, overdue replans it."""
    aged = event.payload
    stages = bucket_stages(uow.extras, uow.tenant) if aged.stage is None else {}
    cured = is_cured(aged.stage, aged.bucket, aged.days_past_due, stages)
    facts = _touch_account(uow, aged.account_id)
    now = uow.now()
    values = {
        "bucket": aged.bucket,
        "stage": aged.stage,
        "cured": cured,
        "entered_at": event.envelope.time,
        "updated_at": now,
    }
    uow.session.execute(
        pg_insert(account_buckets)
        .values(tenant_id=uow.tenant, account_id=aged.account_id, currency=aged.currency, **values)
        .on_conflict_do_update(
            index_elements=[
                account_buckets.c.tenant_id,
                account_buckets.c.account_id,
                account_buckets.c.currency,
            ],
            set_=values,
        )
    )
    if cured:
        _cancel_planned(uow, aged.account_id, {aged.currency: f"{aged.currency} balance is current"})
        return
    _replan_dunning(uow, facts, {aged.currency: aged.bucket}, event.envelope.time)


# --- the contact plan ------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedContact:
    contact_id: str
    currency: str
    kind: str
    playbook: str
    step: Step
    at: datetime


def _plan(uow: UnitOfWork, account_id: str, planned: Sequence[PlannedContact]) -> None:
    """Plan steps (again) in one upsert; a contact already made under the same id is left alone."""
    if not planned:
        return
    stmt = pg_insert(contacts).values(
        [
            {
                "tenant_id": uow.tenant,
                "contact_id": p.contact_id,
                "account_id": account_id,
                "currency": p.currency,
                "channel": p.step.channel,
                "kind": p.kind,
                "playbook": p.playbook,
                "step": p.step.name,
                "template": p.step.template,
                "language": p.step.language,
                "planned_for": p.at,
                "status": "planned",
                "reason": None,
            }
            for p in planned
        ]
    )
    replanned = uow.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[contacts.c.tenant_id, contacts.c.contact_id],
            set_={
                name: stmt.excluded[name]
                for name in (
                    "account_id",
                    "currency",
                    "channel",
                    "kind",
                    "playbook",
                    "step",
                    "template",
                    "language",
                    "planned_for",
                    "status",
                    "reason",
                )
            },
            where=contacts.c.status.in_(("planned", "cancelled")),
        ).returning(contacts.c.contact_id, contacts.c.planned_for)
    ).all()
    for row in replanned:
        uow.schedule(CONTACT_TIMER, row.contact_id, row.planned_for)


def _cancel_planned(uow: UnitOfWork, account_id: str, reasons: Mapping[str, str]) -> None:
    """Cancel the planned dunning of the given currencies (currency -> reason) in one statement."""
    if not reasons:
        return
    cancelled = uow.session.execute(
        update(contacts)
        .where(
            contacts.c.tenant_id == uow.tenant,
            contacts.c.account_id == account_id,
            contacts.c.currency.in_(sorted(reasons)),
            contacts.c.kind == "dunning",
            contacts.c.status == "planned",
        )
        .values(
            status="cancelled",
            reason=case({c: r[:200] for c, r in reasons.items()}, value=contacts.c.currency),
        )
        .returning(contacts.c.contact_id)
    ).scalars()
    for contact_id in cancelled:
        uow.cancel(CONTACT_TIMER, contact_id)


def _replan_dunning(
    uow: UnitOfWork, facts: AccountFacts, overdue: Mapping[str, str], entered_at: datetime
) -> None:
    """Replace the pending dunning of each overdue currency (currency -> bucket) with its playbook's."""
    if not overdue:
        return  # nothing is overdue: a current account gets pre-due reminders, never dunning
    config: StrategyConfig = strategy_config(uow.extras)
    zone = ZoneInfo(facts.timezone)
    anchor: date = entered_at.astimezone(zone).date()
    now = uow.now()
    books = {currency: config.playbook_for(facts.segment, bucket) for currency, bucket in overdue.items()}
    _cancel_planned(
        uow, facts.account_id, {c: f"replaced by playbook {book.name}" for c, book in books.items()}
    )
    planned: list[PlannedContact] = []
    for currency, playbook in sorted(books.items()):
        for step in playbook.dunning_steps:
            assert step.day is not None
            at = max(
                datetime.combine(anchor + timedelta(days=step.day), config.contact_time, tzinfo=zone), now
            )
            contact_id = _key(facts.account_id, currency, playbook.name, step.name, anchor.isoformat())
            planned.append(PlannedContact(contact_id, currency, "dunning", playbook.name, step, at))
    _plan(uow, facts.account_id, planned)


def on_contact_step(due: DueTimer, uow: UnitOfWork) -> None:
    """A planned step is due: check consent, fit it into the legal window and caps, announce it."""
    t = uow.tenant
    row = uow.session.execute(
        select(contacts).where(contacts.c.tenant_id == t, contacts.c.contact_id == due.key).with_for_update()
    ).first()
    if row is None or row.status != "planned":
        return
    config = strategy_config(uow.extras)
    facts = _facts(uow, row.account_id, config)
    reason = _skip_reason(uow, row)
    here = (contacts.c.tenant_id == t, contacts.c.contact_id == due.key)
    if reason is not None:
        uow.session.execute(update(contacts).where(*here).values(status="skipped", reason=reason))
        return
    now = uow.now()
    # contacts announced to the debtor, whatever the currency: the law counts per debtor
    history = [
        PastContact(r.channel, r.scheduled_for)
        for r in uow.session.execute(
            select(contacts.c.channel, contacts.c.scheduled_for).where(
                contacts.c.tenant_id == t,
                contacts.c.account_id == row.account_id,
                contacts.c.status == "due",
                contacts.c.scheduled_for >= now - timedelta(days=8),
            )
        )
    ]
    slot = next_allowed_slot(
        now,
        row.channel,
        timezone=facts.timezone,
        is_holiday=public_holidays(facts.country),
        history=history,
        policy=config.policy,
    )
    uow.session.execute(update(contacts).where(*here).values(status="due", scheduled_for=slot))
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


def _skip_reason(uow: UnitOfWork, contact: Row[Any]) -> str | None:
    t = uow.tenant
    consent = uow.session.execute(
        select(consents.c.consent).where(
            consents.c.tenant_id == t,
            consents.c.account_id == contact.account_id,
            consents.c.channel == contact.channel,
        )
    ).scalar()
    if consent is False:
        return f"no consent for {contact.channel}"
    if contact.kind == "dunning":
        open_promise = uow.session.execute(
            select(promises.c.promise_id).where(
                promises.c.tenant_id == t,
                promises.c.account_id == contact.account_id,
                promises.c.currency == contact.currency,
                promises.c.status == "open",
            )
        ).first()
        if open_promise is not None:
            return f"an open promise to pay in {contact.currency}"
    return None
