"""Loading an account's books under lock and writing back what the domain decided.

Every function takes the tenant and filters by it: ids are unique only within a tenant.
Sets are read with ``= ANY(:ids)`` and written multi-row, so a change that touches many
invoices or payments costs one statement per table.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, any_, bindparam, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session
from sqlalchemy.types import String

from services.reconciliation.adapters.orm import (
    accounts,
    allocations,
    credits,
    invoices,
    payments,
    suspense_references,
)
from services.reconciliation.domain.matching import reference_keys
from services.reconciliation.domain.model import (
    ZERO,
    Allocation,
    Application,
    CreditLot,
    CreditUse,
    InvoiceState,
)
from services.reconciliation.domain.suspense import ParkedPayment

KEY_LENGTH = 128
"""An invoice id or policy number is at most this long, so a longer remittance key names nothing."""


def _any(values: Iterable[str]) -> ColumnElement[Any]:
    """``= ANY(:values)`` with the values bound as one text array."""
    return any_(bindparam(None, sorted(set(values)), type_=ARRAY(String())))


def searchable_keys(reference: str | None) -> list[str]:
    """The remittance's keys that could name an invoice or policy (``reference_keys``, bounded)."""
    return sorted(k for k in reference_keys(reference) if len(k) <= KEY_LENGTH)


def to_invoice(row: Row[Any]) -> InvoiceState:
    return InvoiceState(
        invoice_id=row.invoice_id,
        account_id=row.account_id,
        currency=row.currency,
        amount=row.amount,
        open_amount=row.open_amount,
        due_on=row.due_on,
        issued_on=row.issued_on,
        policy_number=row.policy_number,
    )


@dataclass(frozen=True)
class AccountLink:
    account_id: str
    customer_id: str | None = None
    customer_name: str | None = None


def lock_reference_keys(session: Session, tenant: str, keys: Iterable[str]) -> None:
    """Serialise "an invoice with this number arrives" with "a payment naming it is parked".

    Without it, a payment parked while the invoice it names is being inserted by another
    worker would miss it, and the invoice would miss the payment. Transaction-scoped advisory
    locks, taken in one stable order (before any account lock) so two workers never deadlock.
    """
    wanted = sorted({f"{tenant}\x1f{k}" for k in keys if k})
    if not wanted:
        return
    session.execute(
        text(
            "SELECT pg_advisory_xact_lock(h) FROM ("
            " SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest(CAST(:keys AS text[])) AS k"
            " ORDER BY h) AS ordered"
        ),
        {"keys": wanted},
    )


def link_accounts(session: Session, tenant: str, links: Sequence[AccountLink], now: datetime) -> None:
    """An invoice or customer link names these accounts: they are known from now on."""
    if not links:
        return
    by_id = {link.account_id: link for link in links}
    stmt = pg_insert(accounts).values(
        [
            {
                "tenant_id": tenant,
                "account_id": link.account_id,
                "customer_id": link.customer_id,
                "customer_name": link.customer_name,
                "known": True,
                "updated_at": now,
            }
            for link in (by_id[a] for a in sorted(by_id))  # stable order: no deadlock between workers
        ]
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "account_id"],
            set_={
                "known": True,
                "customer_id": func.coalesce(stmt.excluded.customer_id, accounts.c.customer_id),
                "customer_name": func.coalesce(stmt.excluded.customer_name, accounts.c.customer_name),
                "updated_at": now,
            },
        )
    )


def lock_accounts(session: Session, tenant: str, account_ids: Collection[str]) -> dict[str, bool]:
    """Take the accounts' row locks (in id order) for the rest of the transaction; id -> known."""
    if not account_ids:
        return {}
    rows = session.execute(
        select(accounts.c.account_id, accounts.c.known)
        .where(accounts.c.tenant_id == tenant, accounts.c.account_id == _any(account_ids))
        .order_by(accounts.c.account_id)
        .with_for_update()
    ).all()
    return {r.account_id: r.known for r in rows}


def lock_account(session: Session, tenant: str, account_id: str, now: datetime) -> bool:
    """Take the account's lock, creating its (not yet known) row if needed; whether it is known."""
    session.execute(
        pg_insert(accounts)
        .values(tenant_id=tenant, account_id=account_id, known=False, updated_at=now)
        .on_conflict_do_nothing()
    )
    return lock_accounts(session, tenant, [account_id])[account_id]


def account_invoices(
    session: Session, tenant: str, account_ids: Collection[str], *, currency: str | None = None
) -> list[InvoiceState]:
    """The accounts' non-cancelled invoices, locked in a stable order."""
    query = select(invoices).where(
        invoices.c.tenant_id == tenant,
        invoices.c.account_id == _any(account_ids),
        invoices.c.status != "cancelled",
    )
    if currency is not None:
        query = query.where(invoices.c.currency == currency)
    rows = session.execute(query.order_by(invoices.c.due_on, invoices.c.invoice_id).with_for_update()).all()
    return [to_invoice(r) for r in rows]


def account_credit(session: Session, tenant: str, account_id: str, currency: str) -> list[CreditLot]:
    rows = session.execute(
        select(credits)
        .where(
            credits.c.tenant_id == tenant,
            credits.c.account_id == account_id,
            credits.c.currency == currency,
            credits.c.amount > 0,
        )
        .order_by(credits.c.payment_id)
        .with_for_update()
    ).all()
    return [CreditLot(r.payment_id, r.currency, r.amount, r.received_on) for r in rows]


def credit_totals(
    session: Session, tenant: str, account_ids: Collection[str]
) -> dict[tuple[str, str], Decimal]:
    """(account, currency) -> the account's credit balance in that currency."""
    if not account_ids:
        return {}
    rows = session.execute(
        select(credits.c.account_id, credits.c.currency, func.sum(credits.c.amount))
        .where(credits.c.tenant_id == tenant, credits.c.account_id == _any(account_ids))
        .group_by(credits.c.account_id, credits.c.currency)
    ).all()
    return {(account_id, currency): Decimal(total) for account_id, currency, total in rows}


def credit_total(session: Session, tenant: str, account_id: str, currency: str) -> Decimal:
    return credit_totals(session, tenant, [account_id]).get((account_id, currency), ZERO)


def invoices_by_reference(session: Session, tenant: str, references: Sequence[str]) -> list[InvoiceState]:
    """Non-cancelled invoices whose id equals a reference or whose (normalised) id/policy one names."""
    exact = [r.strip() for r in references if r and r.strip()]
    keys = [k for r in references for k in searchable_keys(r)]
    if not exact and not keys:
        return []
    conditions = [invoices.c.invoice_id == _any(exact)]
    if keys:
        conditions += [invoices.c.reference_key == _any(keys), invoices.c.policy_key == _any(keys)]
    rows = session.execute(
        select(invoices)
        .where(invoices.c.tenant_id == tenant, or_(*conditions), invoices.c.status != "cancelled")
        .order_by(invoices.c.invoice_id)
    ).all()
    return [to_invoice(r) for r in rows]


def set_open_amounts(session: Session, tenant: str, changes: dict[str, Decimal], now: datetime) -> None:
    """Each invoice's new open amount (paid when it reaches zero), in one statement."""
    if not changes:
        return
    ids = sorted(changes)
    session.execute(
        text(
            "UPDATE reconciliation.invoices AS i"
            " SET open_amount = c.open_after,"
            "     status = CASE WHEN c.open_after > 0 THEN 'open' ELSE 'paid' END,"
            "     updated_at = :now"
            " FROM unnest(CAST(:ids AS text[]), CAST(:open_after AS numeric[])) AS c(invoice_id, open_after)"
            " WHERE i.tenant_id = :tenant AND i.invoice_id = c.invoice_id AND i.status <> 'cancelled'"
        ),
        {"tenant": tenant, "ids": ids, "open_after": [changes[i] for i in ids], "now": now},
    )


def set_open_amount(
    session: Session, tenant: str, invoice_id: str, open_after: Decimal, now: datetime
) -> None:
    set_open_amounts(session, tenant, {invoice_id: open_after}, now)


def record_allocations(
    session: Session,
    tenant: str,
    applications: Sequence[tuple[Application, date]],
    now: datetime,
) -> None:
    """Insert every allocation of ``applications`` and set the invoices' open amounts (the last one wins)."""
    rows = [
        {
            "tenant_id": tenant,
            "payment_id": a.payment_id,
            "invoice_id": a.invoice_id,
            "account_id": application.account_id,
            "currency": application.currency,
            "amount": a.amount,
            "written_off": a.written_off,
            "rule": application.rule,
            "applied_on": applied_on,
            "created_at": now,
        }
        for application, applied_on in applications
        for a in application.allocations
    ]
    if not rows:
        return
    session.execute(allocations.insert(), rows)
    opened: dict[str, Decimal] = {}
    for application, _ in applications:
        for a in application.allocations:
            opened[a.invoice_id] = a.open_after
    set_open_amounts(session, tenant, opened, now)


def add_credits(
    session: Session,
    tenant: str,
    lots: Sequence[tuple[str, str, str, Decimal, date]],
    now: datetime,
) -> None:
    """(payment, account, currency, amount, received_on): add to each payment's credit lot."""
    merged: dict[str, tuple[str, str, Decimal, date]] = {}
    for payment_id, account_id, currency, amount, received_on in lots:
        if amount <= 0:
            continue
        previous = merged.get(payment_id)
        merged[payment_id] = (account_id, currency, amount + (previous[2] if previous else ZERO), received_on)
    if not merged:
        return
    stmt = pg_insert(credits).values(
        [
            {
                "tenant_id": tenant,
                "payment_id": payment_id,
                "account_id": account_id,
                "currency": currency,
                "amount": amount,
                "received_on": received_on,
                "updated_at": now,
            }
            for payment_id, (account_id, currency, amount, received_on) in sorted(merged.items())
        ]
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "payment_id"],
            set_={"amount": credits.c.amount + stmt.excluded.amount, "updated_at": now},
        )
    )


def add_credit(
    session: Session,
    tenant: str,
    payment_id: str,
    account_id: str,
    currency: str,
    amount: Decimal,
    received_on: date,
    now: datetime,
) -> None:
    add_credits(session, tenant, [(payment_id, account_id, currency, amount, received_on)], now)


def persist_applications(
    session: Session,
    tenant: str,
    applications: Sequence[tuple[Application, date, date]],
    now: datetime,
) -> None:
    """(application, applied_on, received_on): allocations, open amounts and credit lots, multi-row."""
    record_allocations(session, tenant, [(a, applied_on) for a, applied_on, _ in applications], now)
    add_credits(
        session,
        tenant,
        [
            (a.payment_id, a.account_id, a.currency, a.credit_created, received_on)
            for a, _, received_on in applications
        ],
        now,
    )


def persist_application(
    session: Session,
    tenant: str,
    application: Application,
    applied_on: date,
    received_on: date,
    now: datetime,
) -> None:
    persist_applications(session, tenant, [(application, applied_on, received_on)], now)


def consume_credit(
    session: Session,
    tenant: str,
    invoice: InvoiceState,
    uses: Sequence[CreditUse],
    applied_on: date,
    now: datetime,
) -> None:
    if not uses:
        return
    ids = [use.payment_id for use in uses]
    session.execute(
        text(
            "UPDATE reconciliation.credits AS c SET amount = u.remaining, updated_at = :now"
            " FROM unnest(CAST(:ids AS text[]), CAST(:remaining AS numeric[])) AS u(payment_id, remaining)"
            " WHERE c.tenant_id = :tenant AND c.payment_id = u.payment_id"
        ),
        {"tenant": tenant, "ids": ids, "remaining": [use.lot_remaining for use in uses], "now": now},
    )
    record_allocations(
        session,
        tenant,
        [
            (
                Application(
                    use.payment_id,
                    invoice.account_id,
                    invoice.currency,
                    "credit_balance",
                    (Allocation(use.payment_id, invoice.invoice_id, use.amount, use.open_after),),
                    ZERO,
                ),
                applied_on,
            )
            for use in uses
        ],
        now,
    )


def live_allocations(
    session: Session, tenant: str, *, payment_id: str | None = None, invoice_id: str | None = None
) -> list[Allocation]:
    query = select(allocations).where(allocations.c.tenant_id == tenant, allocations.c.reversed.is_(False))
    if payment_id is not None:
        query = query.where(allocations.c.payment_id == payment_id)
    if invoice_id is not None:
        query = query.where(allocations.c.invoice_id == invoice_id)
    rows = session.execute(query.order_by(allocations.c.id)).all()
    return [Allocation(r.payment_id, r.invoice_id, r.amount, ZERO, r.written_off) for r in rows]


def mark_reversed(session: Session, tenant: str, payment_id: str) -> None:
    session.execute(
        update(allocations)
        .where(
            and_(
                allocations.c.tenant_id == tenant,
                allocations.c.payment_id == payment_id,
                allocations.c.reversed.is_(False),
            )
        )
        .values(reversed=True)
    )
    session.execute(
        update(credits)
        .where(credits.c.tenant_id == tenant, credits.c.payment_id == payment_id)
        .values(amount=ZERO)
    )


def payment_row(session: Session, tenant: str, payment_id: str, *, lock: bool = False) -> Row[Any] | None:
    query = select(payments).where(payments.c.tenant_id == tenant, payments.c.payment_id == payment_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).first()


def received_dates(session: Session, tenant: str, payment_ids: Collection[str]) -> dict[str, date]:
    if not payment_ids:
        return {}
    rows = session.execute(
        select(payments.c.payment_id, payments.c.received_on).where(
            payments.c.tenant_id == tenant, payments.c.payment_id == _any(payment_ids)
        )
    ).all()
    return {r.payment_id: r.received_on for r in rows}


def park_payment(session: Session, tenant: str, values: dict[str, Any], reason: str, index: bool) -> None:
    """Insert the payment in suspense; ``index`` its remittance keys when it named no account."""
    session.execute(
        payments.insert().values(
            **values, tenant_id=tenant, account_id=None, status="suspense", suspense_reason=reason
        )
    )
    keys = searchable_keys(values.get("reference")) if index else []
    if keys:
        session.execute(
            suspense_references.insert(),
            [{"tenant_id": tenant, "reference_key": k, "payment_id": values["payment_id"]} for k in keys],
        )


def parked_payments(
    session: Session, tenant: str, account_ids: Collection[str], keys: Collection[str]
) -> list[ParkedPayment]:
    """The suspense payments an arrival may place, in one locked read, oldest first.

    Those that named one of ``account_ids``, and those that named no account but whose
    remittance contains one of ``keys`` (a new invoice's normalised id or policy number).
    """
    if not account_ids and not keys:
        return []
    named = payments.c.claimed_account_id == _any(account_ids)
    by_reference = and_(
        payments.c.claimed_account_id.is_(None),
        payments.c.payment_id.in_(
            select(suspense_references.c.payment_id).where(
                suspense_references.c.tenant_id == tenant,
                suspense_references.c.reference_key == _any(keys),
            )
        ),
    )
    rows = session.execute(
        select(payments)
        .where(payments.c.tenant_id == tenant, payments.c.status == "suspense", or_(named, by_reference))
        .order_by(payments.c.received_on, payments.c.payment_id)
        .with_for_update()
    ).all()
    return [
        ParkedPayment(r.payment_id, r.currency, r.amount, r.received_on, r.reference, r.claimed_account_id)
        for r in rows
    ]


def leave_suspense(session: Session, tenant: str, placed: Sequence[Application], now: datetime) -> None:
    """Mark the payments applied to the accounts the domain placed them on, and drop their keys."""
    if not placed:
        return
    ids = [a.payment_id for a in placed]
    session.execute(
        text(
            "UPDATE reconciliation.payments AS p"
            " SET account_id = c.account_id, status = 'applied', rule = c.rule, updated_at = :now"
            " FROM unnest(CAST(:ids AS text[]), CAST(:accounts AS text[]), CAST(:rules AS text[]))"
            "   AS c(payment_id, account_id, rule)"
            " WHERE p.tenant_id = :tenant AND p.payment_id = c.payment_id AND p.status = 'suspense'"
        ),
        {
            "tenant": tenant,
            "ids": ids,
            "accounts": [a.account_id for a in placed],
            "rules": [a.rule for a in placed],
            "now": now,
        },
    )
    forget_suspense_keys(session, tenant, ids)


def forget_suspense_keys(session: Session, tenant: str, payment_ids: Collection[str]) -> None:
    session.execute(
        delete(suspense_references).where(
            suspense_references.c.tenant_id == tenant, suspense_references.c.payment_id == _any(payment_ids)
        )
    )


def release_allocations(
    session: Session, tenant: str, invoice_id: str, freed: Sequence[tuple[str, Decimal]]
) -> None:
    """Take cash back from an invoice that shrank: newest allocation rows of each payment first."""
    wanted = dict(freed)
    rows = session.execute(
        select(allocations.c.id, allocations.c.payment_id, allocations.c.amount)
        .where(
            allocations.c.tenant_id == tenant,
            allocations.c.invoice_id == invoice_id,
            allocations.c.payment_id == _any(wanted),
            allocations.c.reversed.is_(False),
        )
        .order_by(allocations.c.id.desc())
        .with_for_update()
    ).all()
    ids: list[int] = []
    amounts: list[Decimal] = []
    for row in rows:
        remaining = wanted[row.payment_id]
        if remaining <= 0:
            continue
        take = min(row.amount, remaining)
        wanted[row.payment_id] = remaining - take
        ids.append(row.id)
        amounts.append(row.amount - take)
    if ids:
        session.execute(
            text(
                "UPDATE reconciliation.allocations AS a SET amount = c.amount"
                " FROM unnest(CAST(:ids AS bigint[]), CAST(:amounts AS numeric[])) AS c(id, amount)"
                " WHERE a.tenant_id = :tenant AND a.id = c.id"
            ),
            {"tenant": tenant, "ids": ids, "amounts": amounts},
        )


def clear_write_offs(session: Session, tenant: str, invoice_id: str) -> None:
    session.execute(
        update(allocations)
        .where(
            allocations.c.tenant_id == tenant,
            allocations.c.invoice_id == invoice_id,
            allocations.c.reversed.is_(False),
        )
        .values(written_off=ZERO)
    )
