"""Set-based reads and writes of reporting's projections: one statement per table per batch.

Every write is one multi-row statement over ``unnest`` of the batch's columns, its rows in key
order so two replicas lock them in the same order and never deadlock. The ordering rules these
statements enforce are written once, in ``services/reporting/domain/money.py``; the SQL here
is their implementation against what earlier batches stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from libs.bucket_scheme import SchemeBucket
from services.reporting.domain.buckets import FirstBucket
from services.reporting.domain.invoices import Book, Invoice
from services.reporting.domain.money import PAYMENT_STATES, state_rank


class ConcurrentInsert(RuntimeError):
    """Another transaction created one of the batch's invoices after the batch read them: redo."""


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows to one list per column, the shape ``unnest`` takes."""
    return [[row[i] for row in rows] for i in range(width)]


# -- invoices (the invoices topic) -------------------------------------------------------------

_INVOICE_COLUMNS = (
    "invoice_id, account_id, currency, amount, open_amount, open_as_of, open_cause, settled, "
    "issued_on, due_on, product_line, status, updated_at"
)
_UNNEST_INVOICES = """
    unnest(CAST(:invoice_id AS text[]), CAST(:account_id AS text[]), CAST(:currency AS text[]),
           CAST(:amount AS numeric[]), CAST(:open_amount AS numeric[]), CAST(:open_as_of AS timestamptz[]),
           CAST(:open_cause AS text[]), CAST(:settled AS numeric[]), CAST(:issued_on AS date[]),
           CAST(:due_on AS date[]), CAST(:product_line AS text[]), CAST(:status AS text[]),
           CAST(:updated_at AS timestamptz[]))
    AS v(invoice_id, account_id, currency, amount, open_amount, open_as_of, open_cause, settled,
         issued_on, due_on, product_line, status, updated_at)
"""
_LOCK_INVOICES = text(
    f"""
    SELECT {_INVOICE_COLUMNS} FROM reporting.invoices
    WHERE tenant_id = :tenant AND invoice_id = ANY(CAST(:ids AS text[]))
    ORDER BY invoice_id FOR UPDATE
    """
)
_UPDATE_INVOICES = text(
    f"""
    UPDATE reporting.invoices AS i SET
        account_id = v.account_id, currency = v.currency, amount = v.amount, open_amount = v.open_amount,
        issued_on = v.issued_on, due_on = v.due_on, product_line = v.product_line, status = v.status,
        updated_at = v.updated_at
    FROM {_UNNEST_INVOICES}
    WHERE i.tenant_id = :tenant AND i.invoice_id = v.invoice_id
    """
)
_INSERT_INVOICES = text(
    f"""
    INSERT INTO reporting.invoices (tenant_id, {_INVOICE_COLUMNS})
    SELECT :tenant, v.* FROM {_UNNEST_INVOICES} ORDER BY v.invoice_id
    ON CONFLICT (tenant_id, invoice_id) DO NOTHING
    RETURNING invoice_id
    """
)


def lock_invoices(session: Session, tenant: str, invoice_ids: Iterable[str]) -> Book:
    """The stored invoices the batch names, locked in id order (the invoices topic's book)."""
    ids = sorted(set(invoice_ids))
    rows = session.execute(_LOCK_INVOICES, {"tenant": tenant, "ids": ids})
    return {r.invoice_id: Invoice(*r) for r in rows}


def _invoice_params(tenant: str, invoices: Sequence[Invoice]) -> dict[str, Any]:
    rows = [
        (
            i.invoice_id,
            i.account_id,
            i.currency,
            i.amount,
            i.open_amount,
            i.open_as_of,
            i.open_cause,
            i.settled,
            i.issued_on,
            i.due_on,
            i.product_line,
            i.status,
            i.updated_at,
        )
        for i in sorted(invoices, key=lambda i: i.invoice_id)
    ]
    names = [n.strip() for n in _INVOICE_COLUMNS.split(",")]
    return {"tenant": tenant, **dict(zip(names, _columns(rows, len(names)), strict=True))}


def write_invoices(session: Session, tenant: str, changed: Sequence[Invoice], stored: Book) -> None:
    """What the invoices topic changed: stored rows updated (locked), new ones inserted.

    Only the billed side is written: what an allocation set (open_as_of, open_cause, settled)
    is the allocations handler's and stays as it is. A new invoice that another transaction
    inserted since ``lock_invoices`` read (an allocation overtaking its invoice, on another
    replica) raises ``ConcurrentInsert``: the batch is redone and then reads it.
    """
    existing = [i for i in changed if i.invoice_id in stored]
    new = [i for i in changed if i.invoice_id not in stored]
    if existing:
        session.execute(_UPDATE_INVOICES, _invoice_params(tenant, existing))
    if new:
        inserted = session.execute(_INSERT_INVOICES, _invoice_params(tenant, new)).all()
        if len(inserted) != len(new):
            raise ConcurrentInsert(
                "reporting.invoices: a row of this batch appeared meanwhile; redo the batch"
            )


# -- invoices (the allocations topic) -----------------------------------------------------------


@dataclass(frozen=True)
class Settlement:
    """What the newest allocation or reopening of a batch says about one invoice."""

    invoice_id: str
    account_id: str
    """of the batch's first mention: who a row the allocation creates belongs to"""
    currency: str
    open_after: Decimal
    settled_after: Decimal | None
    as_of: datetime
    cause: str | None


_SETTLE_INVOICES = text(
    """
    INSERT INTO reporting.invoices AS i
        (tenant_id, invoice_id, account_id, currency, open_amount, settled, open_as_of, open_cause,
         status, updated_at)
    SELECT :tenant, v.invoice_id, v.account_id, v.currency, v.open_after, v.settled, v.as_of, v.cause,
           'open', :now
    FROM unnest(CAST(:invoice_id AS text[]), CAST(:account_id AS text[]), CAST(:currency AS text[]),
                CAST(:open_after AS numeric[]), CAST(:settled AS numeric[]), CAST(:as_of AS timestamptz[]),
                CAST(:cause AS text[]))
         AS v(invoice_id, account_id, currency, open_after, settled, as_of, cause)
    ORDER BY v.invoice_id
    ON CONFLICT (tenant_id, invoice_id) DO UPDATE SET
        open_amount = CASE WHEN EXCLUDED.settled IS NOT NULL AND i.amount IS NOT NULL
                           THEN GREATEST(i.amount - EXCLUDED.settled, 0)
                           ELSE EXCLUDED.open_amount END,
        settled = EXCLUDED.settled,
        open_as_of = EXCLUDED.open_as_of,
        open_cause = EXCLUDED.open_cause,
        updated_at = EXCLUDED.updated_at
    WHERE i.open_as_of IS NULL OR i.open_as_of <= EXCLUDED.open_as_of
    """
)


def settle_invoices(session: Session, tenant: str, settlements: Sequence[Settlement], now: datetime) -> None:
    """Rules 1 and 2: each named invoice's settled (and so open) amount, unless a newer allocation set it.

    An allocation may overtake its invoice (another topic): the row is created with what the
    allocation knows, and ``invoice.issued`` fills in the billed side.
    """
    if not settlements:
        return
    rows = sorted(settlements, key=lambda s: s.invoice_id)
    session.execute(
        _SETTLE_INVOICES,
        {
            "tenant": tenant,
            "now": now,
            "invoice_id": [s.invoice_id for s in rows],
            "account_id": [s.account_id for s in rows],
            "currency": [s.currency for s in rows],
            "open_after": [s.open_after for s in rows],
            "settled": [s.settled_after for s in rows],
            "as_of": [s.as_of for s in rows],
            "cause": [s.cause for s in rows],
        },
    )


# -- accounts ------------------------------------------------------------------------------------

AccountKey = tuple[str, str]
"""(account id, currency)"""

_UNNEST_KEYS = "unnest(CAST(:account_id AS text[]), CAST(:currency AS text[]))"

_SET_CREDIT = text(
    """
    INSERT INTO reporting.accounts AS a (tenant_id, account_id, currency, credit_balance, credit_as_of, updated_at)
    SELECT :tenant, v.account_id, v.currency, v.credit, v.as_of, :now
    FROM unnest(CAST(:account_id AS text[]), CAST(:currency AS text[]), CAST(:credit AS numeric[]),
                CAST(:as_of AS timestamptz[])) AS v(account_id, currency, credit, as_of)
    ORDER BY v.account_id, v.currency
    ON CONFLICT (tenant_id, account_id, currency) DO UPDATE SET
        credit_balance = EXCLUDED.credit_balance,
        credit_as_of = EXCLUDED.credit_as_of,
        updated_at = EXCLUDED.updated_at
    WHERE a.credit_as_of IS NULL OR a.credit_as_of <= EXCLUDED.credit_as_of
    """
)


def set_credits(
    session: Session, tenant: str, credits: Mapping[AccountKey, tuple[datetime, Decimal]], now: datetime
) -> None:
    """Rule 5: each (account, currency) credit is reconciliation's newest ``credit_balance_after``."""
    if not credits:
        return
    keys = sorted(credits)
    session.execute(
        _SET_CREDIT,
        {
            "tenant": tenant,
            "now": now,
            "account_id": [a for a, _ in keys],
            "currency": [c for _, c in keys],
            "credit": [credits[k][1] for k in keys],
            "as_of": [credits[k][0] for k in keys],
        },
    )


@dataclass(frozen=True)
class Aging:
    bucket: str
    stage: str | None
    days_past_due: int


_SET_BUCKETS = text(
    """
    INSERT INTO reporting.accounts AS a (tenant_id, account_id, currency, bucket, stage, days_past_due, aged_at,
                                         updated_at)
    SELECT :tenant, v.account_id, v.currency, v.bucket, v.stage, v.dpd, v.as_of, :now
    FROM unnest(CAST(:account_id AS text[]), CAST(:currency AS text[]), CAST(:bucket AS text[]),
                CAST(:stage AS text[]), CAST(:dpd AS bigint[]), CAST(:as_of AS timestamptz[]))
         AS v(account_id, currency, bucket, stage, dpd, as_of)
    ORDER BY v.account_id, v.currency
    ON CONFLICT (tenant_id, account_id, currency) DO UPDATE SET
        bucket = EXCLUDED.bucket,
        stage = EXCLUDED.stage,
        days_past_due = EXCLUDED.days_past_due,
        aged_at = EXCLUDED.aged_at,
        updated_at = EXCLUDED.updated_at
    WHERE a.aged_at IS NULL OR a.aged_at <= EXCLUDED.aged_at
    """
)


def set_buckets(
    session: Session, tenant: str, buckets: Mapping[AccountKey, tuple[datetime, Aging]], now: datetime
) -> None:
    """Each (account, currency) bucket as aging named it, unless a newer ``account.aged`` already arrived."""
    if not buckets:
        return
    keys = sorted(buckets)
    session.execute(
        _SET_BUCKETS,
        {
            "tenant": tenant,
            "now": now,
            "account_id": [a for a, _ in keys],
            "currency": [c for _, c in keys],
            "bucket": [buckets[k][1].bucket for k in keys],
            "stage": [buckets[k][1].stage for k in keys],
            "dpd": [buckets[k][1].days_past_due for k in keys],
            "as_of": [buckets[k][0] for k in keys],
        },
    )


_ANNOUNCED = text(
    f"""
    SELECT a.account_id, a.currency FROM reporting.accounts a
    JOIN {_UNNEST_KEYS} AS k(account_id, currency)
      ON a.account_id = k.account_id AND a.currency = k.currency
    WHERE a.tenant_id = :tenant AND a.bucket IS NOT NULL
    """
)


def announced(session: Session, tenant: str, keys: Iterable[AccountKey]) -> set[AccountKey]:
    """Which of these (account, currency) already had an ``account.aged`` projected."""
    wanted = sorted(set(keys))
    if not wanted:
        return set()
    params = {"tenant": tenant, "account_id": [a for a, _ in wanted], "currency": [c for _, c in wanted]}
    return {(r.account_id, r.currency) for r in session.execute(_ANNOUNCED, params)}


_SET_DIMENSIONS = text(
    """
    INSERT INTO reporting.accounts AS a (tenant_id, account_id, currency, product_line, advisor_id, office_id,
                                         agency_id, last_issued_on, updated_at)
    SELECT :tenant, v.account_id, v.currency, v.product_line, v.advisor_id, v.office_id, v.agency_id,
           v.issued_on, :now
    FROM unnest(CAST(:account_id AS text[]), CAST(:currency AS text[]), CAST(:product_line AS text[]),
                CAST(:advisor_id AS text[]), CAST(:office_id AS text[]), CAST(:agency_id AS text[]),
                CAST(:issued_on AS date[]))
         AS v(account_id, currency, product_line, advisor_id, office_id, agency_id, issued_on)
    ORDER BY v.account_id, v.currency
    ON CONFLICT (tenant_id, account_id, currency) DO UPDATE SET
        product_line = EXCLUDED.product_line,
        advisor_id = EXCLUDED.advisor_id,
        office_id = EXCLUDED.office_id,
        agency_id = EXCLUDED.agency_id,
        last_issued_on = EXCLUDED.last_issued_on,
        updated_at = EXCLUDED.updated_at
    WHERE a.last_issued_on IS NULL OR a.last_issued_on <= EXCLUDED.last_issued_on
    """
)


@dataclass(frozen=True)
class Dimensions:
    product_line: str
    advisor_id: str | None
    office_id: str | None
    agency_id: str | None
    issued_on: date


def set_dimensions(
    session: Session, tenant: str, dims: Mapping[AccountKey, Dimensions], now: datetime
) -> None:
    """ramo, asesor, oficina and agencia of (account, currency) follow its most recently issued invoice."""
    if not dims:
        return
    keys = sorted(dims)
    session.execute(
        _SET_DIMENSIONS,
        {
            "tenant": tenant,
            "now": now,
            "account_id": [a for a, _ in keys],
            "currency": [c for _, c in keys],
            "product_line": [dims[k].product_line for k in keys],
            "advisor_id": [dims[k].advisor_id for k in keys],
            "office_id": [dims[k].office_id for k in keys],
            "agency_id": [dims[k].agency_id for k in keys],
            "issued_on": [dims[k].issued_on for k in keys],
        },
    )


# -- the tenant's first bucket --------------------------------------------------------------------

_LEARN_FIRST_BUCKET = text(
    """
    INSERT INTO reporting.first_buckets AS f (tenant_id, bucket, stage, learned_at)
    VALUES (:tenant, :bucket, :stage, :learned_at)
    ON CONFLICT (tenant_id) DO UPDATE SET
        bucket = EXCLUDED.bucket, stage = EXCLUDED.stage, learned_at = EXCLUDED.learned_at
    WHERE f.learned_at IS NULL OR f.learned_at <= EXCLUDED.learned_at
    """
)
_SCHEME_FIRST_BUCKET = (
    text(
        """
        UPDATE reporting.first_buckets SET bucket = :bucket, stage = :stage
        WHERE tenant_id = :tenant AND learned_at IS NULL
          AND (bucket, stage) IS DISTINCT FROM (CAST(:bucket AS text), CAST(:stage AS text))
        """
    ),
    text(
        """
        INSERT INTO reporting.first_buckets (tenant_id, bucket, stage, learned_at)
        VALUES (:tenant, :bucket, :stage, NULL)
        ON CONFLICT (tenant_id) DO NOTHING
        """
    ),
)
"""A plain UPDATE and an INSERT … DO NOTHING lock nothing when the row already says it (every batch
asks): an ``ON CONFLICT DO UPDATE … WHERE`` would lock the tenant's row even when it changes nothing."""


def learn_first_bucket(session: Session, tenant: str, first: FirstBucket, as_of: datetime) -> None:
    """The tenant's first bucket, as the latest evidence from aging's events says (a scheme may be renamed)."""
    session.execute(
        _LEARN_FIRST_BUCKET,
        {"tenant": tenant, "bucket": first.bucket, "stage": first.stage, "learned_at": as_of},
    )


def scheme_first_bucket(session: Session, tenant: str, first: SchemeBucket) -> None:
    """The first bucket of the tenant's scheme file, until an event of aging's reveals one."""
    params = {"tenant": tenant, "bucket": first.name, "stage": first.stage or None}
    for statement in _SCHEME_FIRST_BUCKET:
        session.execute(statement, params)


# -- payments --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where a batch leaves one payment: its furthest state, and the last of what each event said."""

    payment_id: str
    state: str
    currency: str
    """of the batch's first event: what a row the batch creates is in"""
    account_id: str | None
    suspense_amount: Decimal | None
    suspense_reason: str | None
    received_on: date | None


_RANK = "CASE {col} " + " ".join(f"WHEN '{s}' THEN {state_rank(s)}" for s in PAYMENT_STATES) + " END"
_PLACE_PAYMENTS = text(
    f"""
    INSERT INTO reporting.payment_states AS t (tenant_id, payment_id, state, account_id, currency,
                                               suspense_amount, suspense_reason, received_on, updated_at)
    SELECT :tenant, v.payment_id, v.state, v.account_id, v.currency, v.amount, v.reason, v.received_on, :now
    FROM unnest(CAST(:payment_id AS text[]), CAST(:state AS text[]), CAST(:account_id AS text[]),
                CAST(:currency AS text[]), CAST(:amount AS numeric[]), CAST(:reason AS text[]),
                CAST(:received_on AS date[]))
         AS v(payment_id, state, account_id, currency, amount, reason, received_on)
    ORDER BY v.payment_id
    ON CONFLICT (tenant_id, payment_id) DO UPDATE SET
        state = CASE WHEN {_RANK.format(col="t.state")} <= {_RANK.format(col="EXCLUDED.state")}
                     THEN EXCLUDED.state ELSE t.state END,
        account_id = COALESCE(EXCLUDED.account_id, t.account_id),
        suspense_amount = COALESCE(EXCLUDED.suspense_amount, t.suspense_amount),
        suspense_reason = COALESCE(EXCLUDED.suspense_reason, t.suspense_reason),
        received_on = COALESCE(EXCLUDED.received_on, t.received_on),
        updated_at = EXCLUDED.updated_at
    """
)


def place_payments(session: Session, tenant: str, placements: Sequence[Placement], now: datetime) -> None:
    """Rule 6: a payment's place only moves forward (suspense → applied → reversed).

    What was parked (amount, reason, received_on) is kept whenever it arrives, so a
    ``payment.unapplied`` that comes late still records it.
    """
    if not placements:
        return
    rows = sorted(placements, key=lambda p: p.payment_id)
    session.execute(
        _PLACE_PAYMENTS,
        {
            "tenant": tenant,
            "now": now,
            "payment_id": [p.payment_id for p in rows],
            "state": [p.state for p in rows],
            "account_id": [p.account_id for p in rows],
            "currency": [p.currency for p in rows],
            "amount": [p.suspense_amount for p in rows],
            "reason": [p.suspense_reason for p in rows],
            "received_on": [p.received_on for p in rows],
        },
    )


@dataclass(frozen=True)
class Received:
    payment_id: str
    account_id: str | None
    amount: Decimal
    currency: str
    received_on: date
    reversed: bool
    """reversed by a later event of the same batch"""


_REVERSE_PAYMENTS = text(
    """
    UPDATE reporting.payments SET reversed = 'Y'
    WHERE tenant_id = :tenant AND payment_id = ANY(CAST(:ids AS text[]))
    """
)
_RECEIVE_PAYMENTS = text(
    """
    INSERT INTO reporting.payments (tenant_id, payment_id, account_id, amount, currency, received_on, reversed)
    SELECT :tenant, v.payment_id, v.account_id, v.amount, v.currency, v.received_on, v.reversed
    FROM unnest(CAST(:payment_id AS text[]), CAST(:account_id AS text[]), CAST(:amount AS numeric[]),
                CAST(:currency AS text[]), CAST(:received_on AS date[]), CAST(:reversed AS text[]))
         AS v(payment_id, account_id, amount, currency, received_on, reversed)
    ORDER BY v.payment_id
    ON CONFLICT (tenant_id, payment_id) DO NOTHING
    """
)


def record_received(
    session: Session, tenant: str, received: Sequence[Received], reversed_ids: Iterable[str]
) -> None:
    """The "payments received" KPI: rows stored before the batch are marked reversed, then new rows added.

    The update runs first, so it only reaches rows earlier batches stored; a payment received
    and reversed within the batch arrives already marked (``Received.reversed``).
    """
    ids = sorted(set(reversed_ids))
    if ids:
        session.execute(_REVERSE_PAYMENTS, {"tenant": tenant, "ids": ids})
    if not received:
        return
    rows = sorted(received, key=lambda r: r.payment_id)
    session.execute(
        _RECEIVE_PAYMENTS,
        {
            "tenant": tenant,
            "payment_id": [r.payment_id for r in rows],
            "account_id": [r.account_id for r in rows],
            "amount": [r.amount for r in rows],
            "currency": [r.currency for r in rows],
            "received_on": [r.received_on for r in rows],
            "reversed": ["Y" if r.reversed else "N" for r in rows],
        },
    )


# -- promises and contacts -------------------------------------------------------------------------


@dataclass(frozen=True)
class PromiseRow:
    promise_id: str
    account_id: str
    amount: Decimal
    paid_amount: Decimal
    currency: str
    due_on: date
    status: str
    """open (made: never overwrites a stored row) or kept/broken (resolved: always does)"""


_UPSERT_PROMISES = text(
    """
    INSERT INTO reporting.promises AS p (tenant_id, promise_id, account_id, amount, paid_amount, currency, due_on,
                                         status, updated_at)
    SELECT :tenant, v.promise_id, v.account_id, v.amount, v.paid_amount, v.currency, v.due_on, v.status, :now
    FROM unnest(CAST(:promise_id AS text[]), CAST(:account_id AS text[]), CAST(:amount AS numeric[]),
                CAST(:paid_amount AS numeric[]), CAST(:currency AS text[]), CAST(:due_on AS date[]),
                CAST(:status AS text[]))
         AS v(promise_id, account_id, amount, paid_amount, currency, due_on, status)
    ORDER BY v.promise_id
    ON CONFLICT (tenant_id, promise_id) DO UPDATE SET
        account_id = EXCLUDED.account_id, amount = EXCLUDED.amount, paid_amount = EXCLUDED.paid_amount,
        currency = EXCLUDED.currency, due_on = EXCLUDED.due_on, status = EXCLUDED.status,
        updated_at = EXCLUDED.updated_at
    WHERE EXCLUDED.status <> 'open'
    """
)


def upsert_promises(session: Session, tenant: str, rows: Sequence[PromiseRow], now: datetime) -> None:
    if not rows:
        return
    ordered = sorted(rows, key=lambda r: r.promise_id)
    session.execute(
        _UPSERT_PROMISES,
        {
            "tenant": tenant,
            "now": now,
            "promise_id": [r.promise_id for r in ordered],
            "account_id": [r.account_id for r in ordered],
            "amount": [r.amount for r in ordered],
            "paid_amount": [r.paid_amount for r in ordered],
            "currency": [r.currency for r in ordered],
            "due_on": [r.due_on for r in ordered],
            "status": [r.status for r in ordered],
        },
    )


@dataclass(frozen=True)
class ContactRow:
    contact_id: str
    account_id: str
    channel: str
    strategy: str | None
    step: str | None
    status: str
    """due (only creates a row) or an outcome's status (always overwrites account, channel, status)"""


_UPSERT_CONTACTS = text(
    """
    INSERT INTO reporting.contacts AS c (tenant_id, contact_id, account_id, channel, strategy, step, status,
                                         updated_at)
    SELECT :tenant, v.contact_id, v.account_id, v.channel, v.strategy, v.step, v.status, :now
    FROM unnest(CAST(:contact_id AS text[]), CAST(:account_id AS text[]), CAST(:channel AS text[]),
                CAST(:strategy AS text[]), CAST(:step AS text[]), CAST(:status AS text[]))
         AS v(contact_id, account_id, channel, strategy, step, status)
    ORDER BY v.contact_id
    ON CONFLICT (tenant_id, contact_id) DO UPDATE SET
        account_id = EXCLUDED.account_id, channel = EXCLUDED.channel, status = EXCLUDED.status,
        updated_at = EXCLUDED.updated_at
    WHERE EXCLUDED.status <> 'due'
    """
)


def upsert_contacts(session: Session, tenant: str, rows: Sequence[ContactRow], now: datetime) -> None:
    if not rows:
        return
    ordered = sorted(rows, key=lambda r: r.contact_id)
    session.execute(
        _UPSERT_CONTACTS,
        {
            "tenant": tenant,
            "now": now,
            "contact_id": [r.contact_id for r in ordered],
            "account_id": [r.account_id for r in ordered],
            "channel": [r.channel for r in ordered],
            "strategy": [r.strategy for r in ordered],
            "step": [r.step for r in ordered],
            "status": [r.status for r in ordered],
        },
    )
