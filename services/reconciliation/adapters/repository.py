"""Loading an account's books under lock and writing back what the domain decided.

Every function takes the tenant and filters by it: ids are unique only within a tenant.
Sets are read with ``= ANY(:ids)`` and written multi-row, so a change that touches many
invoices or payments costs one statement per table.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, any_, bindparam, cast, delete, func, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType, String

from libs.runtime.pg_arrays import pg_array
from services.reconciliation.adapters.orm import (
    accounts,
    allocations,
    credits,
    invoices,
    payments,
    suspense_references,
)
from services.reconciliation.domain.books import (
    AccountRecord,
    AllocationRecord,
    CreditRecord,
    InvoiceRecord,
    PaymentRecord,
)
from services.reconciliation.domain.matching import normalize_reference, reference_keys
from services.reconciliation.domain.model import (
    ZERO,
    Application,
    InvoiceState,
)

KEY_LENGTH = 128
"""An invoice id or policy number is at most this long, so a longer remittance key names nothing."""


def _any(values: Iterable[str]) -> ColumnElement[Any]:
    """``= ANY(:values)`` with the values bound as one text array literal (``pg_array``)."""
    # untyped (no ``::VARCHAR`` on the parameter): the server reads the literal as the array itself, a
    # constant the planner sees, instead of casting a varchar at run time
    return any_(cast(bindparam(None, pg_array(sorted(set(values))), type_=NullType()), ARRAY(String())))


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
        natural_id=row.natural_id,
    )


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
        {"keys": pg_array(wanted)},
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


def invoice_rows_by_reference(
    session: Session, tenant: str, references: Iterable[str | None]
) -> list[Row[Any]]:
    """Non-cancelled invoices whose id (or natural id) equals a reference, or whose normalised
    id, natural id or policy number one names; one read, unlocked (the caller locks accounts after)."""
    texts = [r for r in references if r]
    exact = sorted({r.strip() for r in texts if r.strip()})
    keys = sorted({k for r in texts for k in searchable_keys(r)})
    if not exact and not keys:
        return []
    conditions = [invoices.c.invoice_id == _any(exact), invoices.c.natural_id == _any(exact)]
    if keys:
        conditions += [
            invoices.c.reference_key == _any(keys),
            invoices.c.policy_key == _any(keys),
            invoices.c.natural_key == _any(keys),
        ]
    return list(
        session.execute(
            select(invoices)
            .where(invoices.c.tenant_id == tenant, or_(*conditions), invoices.c.status != "cancelled")
            .order_by(invoices.c.invoice_id)
        ).all()
    )


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
        {
            "tenant": tenant,
            "ids": pg_array(ids),
            "open_after": pg_array([changes[i] for i in ids]),
            "now": now,
        },
    )


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


def payment_row(session: Session, tenant: str, payment_id: str, *, lock: bool = False) -> Row[Any] | None:
    query = select(payments).where(payments.c.tenant_id == tenant, payments.c.payment_id == payment_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).first()


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
            "ids": pg_array(ids),
            "accounts": pg_array([a.account_id for a in placed]),
            "rules": pg_array([a.rule for a in placed]),
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


# -- a batch's books: read once per table under lock, written back once per table -------------


def payment_rows(
    session: Session, tenant: str, payment_ids: Collection[str], *, lock: bool = False
) -> list[Row[Any]]:
    """The payments with these ids (locked in id order when ``lock``)."""
    if not payment_ids:
        return []
    query = (
        select(payments)
        .where(payments.c.tenant_id == tenant, payments.c.payment_id == _any(payment_ids))
        .order_by(payments.c.payment_id)
    )
    return list(session.execute(query.with_for_update() if lock else query).all())


def ensure_accounts(session: Session, tenant: str, account_ids: Collection[str], now: datetime) -> None:
    """Create the rows (not yet known) of accounts a batch names, so that they can be locked."""
    if not account_ids:
        return
    session.execute(
        text(
            "INSERT INTO reconciliation.accounts (tenant_id, account_id, known, updated_at)"
            " SELECT :tenant, a, false, :now FROM unnest(CAST(:ids AS text[])) AS a ORDER BY a"
            " ON CONFLICT (tenant_id, account_id) DO NOTHING"
        ),
        {"tenant": tenant, "ids": pg_array(sorted(set(account_ids))), "now": now},
    )


def lock_account_rows(session: Session, tenant: str, account_ids: Collection[str]) -> list[Row[Any]]:
    """Take the accounts' row locks in id order (replicas never deadlock) and read them."""
    if not account_ids:
        return []
    query = (
        select(accounts)
        .where(accounts.c.tenant_id == tenant, accounts.c.account_id == _any(account_ids))
        .order_by(accounts.c.account_id)
        .with_for_update()
    )
    return list(session.execute(query).all())


def lock_invoice_rows(
    session: Session, tenant: str, account_ids: Collection[str], invoice_ids: Collection[str]
) -> list[Row[Any]]:
    """The accounts' open invoices and the invoices named by id (any state), locked in id order.

    Paid invoices of the accounts take no money unless something names them (a reversal of a
    payment that paid them, a resize), so a long history costs nothing per batch.
    """
    if not account_ids and not invoice_ids:
        return []
    return list(
        session.execute(
            select(invoices)
            .where(
                invoices.c.tenant_id == tenant,
                or_(
                    and_(invoices.c.account_id == _any(account_ids), invoices.c.status == "open"),
                    invoices.c.invoice_id == _any(invoice_ids),
                ),
            )
            .order_by(invoices.c.invoice_id)
            .with_for_update()
        ).all()
    )


def lock_credit_rows(session: Session, tenant: str, account_ids: Collection[str]) -> list[Row[Any]]:
    """The accounts' credit lots with money left, locked in payment order."""
    if not account_ids:
        return []
    return list(
        session.execute(
            select(credits)
            .where(
                credits.c.tenant_id == tenant, credits.c.account_id == _any(account_ids), credits.c.amount > 0
            )
            .order_by(credits.c.payment_id)
            .with_for_update()
        ).all()
    )


def lock_allocation_rows(
    session: Session, tenant: str, payment_ids: Collection[str], invoice_ids: Collection[str]
) -> list[Row[Any]]:
    """Live allocations of these payments or invoices, oldest first, with their payment's receipt date."""
    if not payment_ids and not invoice_ids:
        return []
    return list(
        session.execute(
            select(allocations, payments.c.received_on)
            .join(
                payments,
                and_(
                    payments.c.tenant_id == allocations.c.tenant_id,
                    payments.c.payment_id == allocations.c.payment_id,
                ),
            )
            .where(
                allocations.c.tenant_id == tenant,
                allocations.c.reversed.is_(False),
                or_(
                    allocations.c.payment_id == _any(payment_ids),
                    allocations.c.invoice_id == _any(invoice_ids),
                ),
            )
            .order_by(allocations.c.id)
            .with_for_update(of=allocations)
        ).all()
    )


def settled_amounts(session: Session, tenant: str, invoice_ids: Collection[str]) -> dict[str, Decimal]:
    """invoice -> live cash plus write-offs settled on it."""
    if not invoice_ids:
        return {}
    rows = session.execute(
        select(allocations.c.invoice_id, func.sum(allocations.c.amount + allocations.c.written_off))
        .where(
            allocations.c.tenant_id == tenant,
            allocations.c.invoice_id == _any(invoice_ids),
            allocations.c.reversed.is_(False),
        )
        .group_by(allocations.c.invoice_id)
    ).all()
    return {invoice_id: Decimal(total) for invoice_id, total in rows}


def lock_parked_rows(
    session: Session, tenant: str, account_ids: Collection[str], keys: Collection[str]
) -> list[Row[Any]]:
    """The suspense payments an arrival may place, in one locked read, oldest first.

    Those that named one of ``account_ids``, and those that named no account but whose
    remittance contains one of ``keys`` (a new invoice's normalised id, natural id or policy).
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
    return list(
        session.execute(
            select(payments)
            .where(payments.c.tenant_id == tenant, payments.c.status == "suspense", or_(named, by_reference))
            .order_by(payments.c.received_on, payments.c.payment_id)
            .with_for_update()
        ).all()
    )


def _run(session: Session, sql: str, params: dict[str, Any]) -> None:
    """One text statement; its list parameters go as array literals (``CAST(:p AS <type>[])`` in ``sql``)."""
    session.execute(text(sql), {k: pg_array(v) if isinstance(v, list) else v for k, v in params.items()})


def upsert_accounts(session: Session, tenant: str, rows: Sequence[AccountRecord], now: datetime) -> None:
    """The batch's accounts as they stand: known, and the latest customer that named them."""
    if not rows:
        return
    ordered = sorted(rows, key=lambda a: a.account_id)
    _run(
        session,
        "INSERT INTO reconciliation.accounts AS a (tenant_id, account_id, customer_id, customer_name, known, updated_at)"
        " SELECT :tenant, v.account_id, v.customer_id, v.customer_name, v.known, :now"
        " FROM unnest(CAST(:ids AS text[]), CAST(:customer_ids AS text[]), CAST(:names AS text[]),"
        "   CAST(:known AS boolean[])) AS v(account_id, customer_id, customer_name, known)"
        " ON CONFLICT (tenant_id, account_id) DO UPDATE SET known = EXCLUDED.known,"
        "   customer_id = EXCLUDED.customer_id, customer_name = EXCLUDED.customer_name, updated_at = :now",
        {
            "tenant": tenant,
            "now": now,
            "ids": [a.account_id for a in ordered],
            "customer_ids": [a.customer_id for a in ordered],
            "names": [a.customer_name for a in ordered],
            "known": [a.known for a in ordered],
        },
    )


def write_invoices(session: Session, tenant: str, rows: Sequence[InvoiceRecord], now: datetime) -> None:
    """New invoices inserted and changed ones updated as the batch left them: two statements at most."""
    new = [i for i in rows if i.new]
    changed = sorted((i for i in rows if i.changed and not i.new), key=lambda i: i.invoice_id)
    if new:
        _run(
            session,
            "INSERT INTO reconciliation.invoices (tenant_id, invoice_id, account_id, currency, amount,"
            " open_amount, issued_on, due_on, policy_number, reference_key, policy_key, natural_id,"
            " natural_key, status, updated_at)"
            " SELECT :tenant, v.invoice_id, v.account_id, v.currency, v.amount, v.open_amount, v.issued_on,"
            "   v.due_on, v.policy_number, v.reference_key, v.policy_key, v.natural_id, v.natural_key,"
            "   v.status, :now"
            " FROM unnest(CAST(:ids AS text[]), CAST(:accounts AS text[]), CAST(:currencies AS text[]),"
            "   CAST(:amounts AS numeric[]), CAST(:opens AS numeric[]), CAST(:issued AS date[]),"
            "   CAST(:due AS date[]), CAST(:policies AS text[]), CAST(:reference_keys AS text[]),"
            "   CAST(:policy_keys AS text[]), CAST(:natural_ids AS text[]), CAST(:natural_keys AS text[]),"
            "   CAST(:statuses AS text[]))"
            "   AS v(invoice_id, account_id, currency, amount, open_amount, issued_on, due_on, policy_number,"
            "        reference_key, policy_key, natural_id, natural_key, status)"
            " ON CONFLICT (tenant_id, invoice_id) DO NOTHING",
            {
                "tenant": tenant,
                "now": now,
                "ids": [i.invoice_id for i in new],
                "accounts": [i.account_id for i in new],
                "currencies": [i.currency for i in new],
                "amounts": [i.amount for i in new],
                "opens": [i.open_amount for i in new],
                "issued": [i.issued_on for i in new],
                "due": [i.due_on for i in new],
                "policies": [i.policy_number for i in new],
                "reference_keys": [normalize_reference(i.invoice_id) for i in new],
                "policy_keys": [normalize_reference(i.policy_number) or None for i in new],
                "natural_ids": [i.natural_id for i in new],
                "natural_keys": [normalize_reference(i.natural_id) or None for i in new],
                "statuses": [i.status for i in new],
            },
        )
    if changed:
        _run(
            session,
            "UPDATE reconciliation.invoices AS i SET amount = v.amount, open_amount = v.open_amount,"
            " due_on = v.due_on, status = v.status, updated_at = :now"
            " FROM unnest(CAST(:ids AS text[]), CAST(:amounts AS numeric[]), CAST(:opens AS numeric[]),"
            "   CAST(:due AS date[]), CAST(:statuses AS text[])) AS v(invoice_id, amount, open_amount, due_on, status)"
            " WHERE i.tenant_id = :tenant AND i.invoice_id = v.invoice_id",
            {
                "tenant": tenant,
                "now": now,
                "ids": [i.invoice_id for i in changed],
                "amounts": [i.amount for i in changed],
                "opens": [i.open_amount for i in changed],
                "due": [i.due_on for i in changed],
                "statuses": [i.status for i in changed],
            },
        )


def write_allocations(session: Session, tenant: str, rows: Sequence[AllocationRecord], now: datetime) -> None:
    """New allocation rows (in the order they were made: ids keep it) and changed old ones."""
    new = [a for a in rows if a.row_id is None]
    changed = sorted((a for a in rows if a.row_id is not None and a.changed), key=lambda a: a.row_id or 0)
    if new:
        _run(
            session,
            "INSERT INTO reconciliation.allocations (tenant_id, payment_id, invoice_id, account_id, currency,"
            " amount, written_off, rule, applied_on, reversed, created_at)"
            " SELECT :tenant, v.payment_id, v.invoice_id, v.account_id, v.currency, v.amount, v.written_off,"
            "   v.rule, v.applied_on, v.reversed, :now"
            " FROM unnest(CAST(:payments AS text[]), CAST(:invoices AS text[]), CAST(:accounts AS text[]),"
            "   CAST(:currencies AS text[]), CAST(:amounts AS numeric[]), CAST(:written_off AS numeric[]),"
            "   CAST(:rules AS text[]), CAST(:applied_on AS date[]), CAST(:reversed AS boolean[]))"
            "   WITH ORDINALITY AS v(payment_id, invoice_id, account_id, currency, amount, written_off, rule,"
            "   applied_on, reversed, n)"
            " ORDER BY v.n",
            {
                "tenant": tenant,
                "now": now,
                "payments": [a.payment_id for a in new],
                "invoices": [a.invoice_id for a in new],
                "accounts": [a.account_id for a in new],
                "currencies": [a.currency for a in new],
                "amounts": [a.amount for a in new],
                "written_off": [a.written_off for a in new],
                "rules": [a.rule for a in new],
                "applied_on": [a.applied_on for a in new],
                "reversed": [a.reversed for a in new],
            },
        )
    if changed:
        _run(
            session,
            "UPDATE reconciliation.allocations AS a SET amount = v.amount, written_off = v.written_off,"
            " reversed = v.reversed"
            " FROM unnest(CAST(:ids AS bigint[]), CAST(:amounts AS numeric[]), CAST(:written_off AS numeric[]),"
            "   CAST(:reversed AS boolean[])) AS v(id, amount, written_off, reversed)"
            " WHERE a.tenant_id = :tenant AND a.id = v.id",
            {
                "tenant": tenant,
                "ids": [a.row_id for a in changed],
                "amounts": [a.amount for a in changed],
                "written_off": [a.written_off for a in changed],
                "reversed": [a.reversed for a in changed],
            },
        )


def write_credits(session: Session, tenant: str, rows: Sequence[CreditRecord], now: datetime) -> None:
    """Every credit lot the batch changed, at the amount it left (one upsert)."""
    if not rows:
        return
    ordered = sorted(rows, key=lambda c: c.payment_id)
    _run(
        session,
        "INSERT INTO reconciliation.credits (tenant_id, payment_id, account_id, currency, amount, received_on,"
        " updated_at)"
        " SELECT :tenant, v.payment_id, v.account_id, v.currency, v.amount, v.received_on, :now"
        " FROM unnest(CAST(:ids AS text[]), CAST(:accounts AS text[]), CAST(:currencies AS text[]),"
        "   CAST(:amounts AS numeric[]), CAST(:received AS date[]))"
        "   AS v(payment_id, account_id, currency, amount, received_on)"
        " ON CONFLICT (tenant_id, payment_id) DO UPDATE SET amount = EXCLUDED.amount, updated_at = :now",
        {
            "tenant": tenant,
            "now": now,
            "ids": [c.payment_id for c in ordered],
            "accounts": [c.account_id for c in ordered],
            "currencies": [c.currency for c in ordered],
            "amounts": [c.amount for c in ordered],
            "received": [c.received_on for c in ordered],
        },
    )


def write_payments(session: Session, tenant: str, rows: Sequence[PaymentRecord], now: datetime) -> None:
    """New payments inserted as the batch left them, changed ones updated; their suspense keys kept
    for those still waiting without an account, dropped for those that left suspense."""
    new = [p for p in rows if p.new]
    changed = sorted((p for p in rows if p.changed and not p.new), key=lambda p: p.payment_id)
    if new:
        _run(
            session,
            "INSERT INTO reconciliation.payments (tenant_id, payment_id, account_id, claimed_account_id,"
            " currency, amount, received_on, method, method_detail, reference, payer_name, status, rule,"
            " suspense_reason, reversed_on, created_at, updated_at)"
            " SELECT :tenant, v.payment_id, v.account_id, v.claimed_account_id, v.currency, v.amount,"
            "   v.received_on, v.method, v.method_detail, v.reference, v.payer_name, v.status, v.rule,"
            "   v.suspense_reason, v.reversed_on, :now, :now"
            " FROM unnest(CAST(:ids AS text[]), CAST(:accounts AS text[]), CAST(:claimed AS text[]),"
            "   CAST(:currencies AS text[]), CAST(:amounts AS numeric[]), CAST(:received AS date[]),"
            "   CAST(:methods AS text[]), CAST(:details AS text[]), CAST(:references AS text[]),"
            "   CAST(:payers AS text[]), CAST(:statuses AS text[]), CAST(:rules AS text[]),"
            "   CAST(:reasons AS text[]), CAST(:reversed AS date[]))"
            "   AS v(payment_id, account_id, claimed_account_id, currency, amount, received_on, method,"
            "        method_detail, reference, payer_name, status, rule, suspense_reason, reversed_on)",
            {
                "tenant": tenant,
                "now": now,
                "ids": [p.payment_id for p in new],
                "accounts": [p.account_id for p in new],
                "claimed": [p.claimed_account_id for p in new],
                "currencies": [p.currency for p in new],
                "amounts": [p.amount for p in new],
                "received": [p.received_on for p in new],
                "methods": [p.method for p in new],
                "details": [p.method_detail for p in new],
                "references": [p.reference for p in new],
                "payers": [p.payer_name for p in new],
                "statuses": [p.status for p in new],
                "rules": [p.rule for p in new],
                "reasons": [p.suspense_reason for p in new],
                "reversed": [p.reversed_on for p in new],
            },
        )
    if changed:
        _run(
            session,
            "UPDATE reconciliation.payments AS p SET account_id = v.account_id, status = v.status,"
            " rule = v.rule, reversed_on = v.reversed_on, updated_at = :now"
            " FROM unnest(CAST(:ids AS text[]), CAST(:accounts AS text[]), CAST(:statuses AS text[]),"
            "   CAST(:rules AS text[]), CAST(:reversed AS date[])) AS v(payment_id, account_id, status, rule,"
            "   reversed_on)"
            " WHERE p.tenant_id = :tenant AND p.payment_id = v.payment_id",
            {
                "tenant": tenant,
                "now": now,
                "ids": [p.payment_id for p in changed],
                "accounts": [p.account_id for p in changed],
                "statuses": [p.status for p in changed],
                "rules": [p.rule for p in changed],
                "reversed": [p.reversed_on for p in changed],
            },
        )
        gone = [p.payment_id for p in changed if p.status != "suspense"]
        if gone:
            forget_suspense_keys(session, tenant, gone)
    waiting = sorted(
        {
            (k, p.payment_id)
            for p in new
            if p.status == "suspense" and p.indexed
            for k in searchable_keys(p.reference)
        }
    )
    if waiting:
        _run(
            session,
            "INSERT INTO reconciliation.suspense_references (tenant_id, reference_key, payment_id)"
            " SELECT :tenant, v.k, v.p FROM unnest(CAST(:keys AS text[]), CAST(:ids AS text[])) AS v(k, p)",
            {"tenant": tenant, "keys": [k for k, _ in waiting], "ids": [p for _, p in waiting]},
        )
