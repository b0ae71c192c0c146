"""Set-based reads and writes of reporting's projections: one statement per table per batch.

Every write is one multi-row statement over ``json_to_recordset`` of one JSON parameter (the
batch's rows as objects), its rows in key order so two replicas lock them in the same order and
never deadlock. One text parameter instead of a typed array per column: psycopg dumps a Python
list element by element (most of the handlers' CPU when the writes took arrays), while the
standard library encodes the whole batch in C, and the statement text stays the same whatever the
batch size. The ordering rules these statements enforce are written once, in
``services/reporting/domain/money.py``; the SQL here is their implementation against what
earlier batches stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.orm import Session

from libs.bucket_scheme import SchemeBucket
from libs.runtime.pg_arrays import text_array
from services.reporting.domain.buckets import FirstBucket
from services.reporting.domain.invoices import Book, Invoice
from services.reporting.domain.money import PAYMENT_STATES, state_rank


class ConcurrentInsert(RuntimeError):
    """Another transaction created one of the batch's invoices after the batch read them: redo."""


def _plain(value: object) -> str:
    """What JSON lacks: money as its exact decimal text, dates and times in ISO 8601 (PostgreSQL
    reads both back through the column types ``json_to_recordset`` declares)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} has no JSON form here")


def _rows(rows: Sequence[dict[str, Any]]) -> str:
    """The batch's rows as one JSON array: the single parameter of a ``json_to_recordset`` write.

    A batch's events share few distinct times (an aware ``isoformat`` costs microseconds): each is
    formatted once per call. Equal aware datetimes are the same instant, so the same timestamptz."""
    times: dict[datetime, str] = {}

    def plain(value: object) -> str:
        if type(value) is datetime:
            text = times.get(value)
            if text is None:
                text = times[value] = value.isoformat()
            return text
        return _plain(value)

    return json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=plain).encode(rows)


# -- invoices (the invoices topic) -------------------------------------------------------------

_INVOICE_RECORD = """
    json_to_recordset(CAST(:rows AS json)) AS v(
        invoice_id text, account_id text, currency text, amount numeric, open_amount numeric,
        open_as_of timestamptz, open_cause text, settled numeric, issued_on date, due_on date,
        product_line text, status text, stored boolean)
"""
_LOCK_INVOICES = text(
    """
    SELECT invoice_id, account_id, currency, amount, open_amount, open_as_of, open_cause, settled,
           issued_on, due_on, product_line, status, updated_at
    FROM reporting.invoices
    WHERE tenant_id = :tenant AND invoice_id = ANY(CAST(:ids AS text[]))
    ORDER BY invoice_id FOR UPDATE
    """
)
_WRITE_INVOICES = text(
    f"""
    WITH v AS MATERIALIZED (SELECT * FROM {_INVOICE_RECORD}),
    updated AS (
        UPDATE reporting.invoices AS i SET
            account_id = v.account_id, currency = v.currency, amount = v.amount, open_amount = v.open_amount,
            issued_on = v.issued_on, due_on = v.due_on, product_line = v.product_line, status = v.status,
            updated_at = :now
        FROM v
        WHERE v.stored AND i.tenant_id = :tenant AND i.invoice_id = v.invoice_id
    ),
    inserted AS (
        INSERT INTO reporting.invoices (tenant_id, invoice_id, account_id, currency, amount, open_amount,
                                        open_as_of, open_cause, settled, issued_on, due_on, product_line,
                                        status, updated_at)
        SELECT :tenant, v.invoice_id, v.account_id, v.currency, v.amount, v.open_amount, v.open_as_of,
               v.open_cause, v.settled, v.issued_on, v.due_on, v.product_line, v.status, :now
        FROM v WHERE NOT v.stored ORDER BY v.invoice_id
        ON CONFLICT (tenant_id, invoice_id) DO NOTHING
        RETURNING 1
    )
    SELECT count(*) FROM inserted
    """
)
"""Stored rows (locked by ``_LOCK_INVOICES``) updated and new ones inserted in one round trip: the
two parts touch different rows, so they do not see each other's changes and need not."""


def lock_invoices(session: Session, tenant: str, invoice_ids: Iterable[str]) -> Book:
    """The stored invoices the batch names, locked in id order (the invoices topic's book)."""
    ids = text_array(sorted(set(invoice_ids)))
    rows = session.execute(_LOCK_INVOICES, {"tenant": tenant, "ids": ids})
    return {r[0]: Invoice(*r) for r in rows}


def write_invoices(
    session: Session, tenant: str, changed: Sequence[Invoice], stored: Book, now: datetime
) -> None:
    """What the invoices topic changed: stored rows updated (locked), new ones inserted.

    Only the billed side is written: what an allocation set (open_as_of, open_cause, settled)
    is the allocations handler's and stays as it is. A new invoice that another transaction
    inserted since ``lock_invoices`` read (an allocation overtaking its invoice, on another
    replica) raises ``ConcurrentInsert``: the batch is redone and then reads it. Every changed
    invoice was changed now (``domain/invoices.py`` stamps ``now``): ``updated_at`` is one parameter.
    """
    if not changed:
        return
    rows = [
        {
            "invoice_id": i.invoice_id,
            "account_id": i.account_id,
            "currency": i.currency,
            "amount": i.amount,
            "open_amount": i.open_amount,
            "open_as_of": i.open_as_of,
            "open_cause": i.open_cause,
            "settled": i.settled,
            "issued_on": i.issued_on,
            "due_on": i.due_on,
            "product_line": i.product_line,
            "status": i.status,
            "stored": i.invoice_id in stored,
        }
        for i in changed
    ]
    new = sum(not r["stored"] for r in rows)
    params = {"tenant": tenant, "now": now, "rows": _rows(rows)}
    inserted = session.execute(_WRITE_INVOICES, params).scalar_one()
    if inserted != new:
        raise ConcurrentInsert("reporting.invoices: a row of this batch appeared meanwhile; redo the batch")


# -- invoices (the allocations topic) -----------------------------------------------------------


class Settlement(NamedTuple):
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
    FROM json_to_recordset(CAST(:rows AS json))
         AS v(invoice_id text, account_id text, currency text, open_after numeric, settled numeric,
              as_of timestamptz, cause text)
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
    rows = [
        {
            "invoice_id": s.invoice_id,
            "account_id": s.account_id,
            "currency": s.currency,
            "open_after": s.open_after,
            "settled": s.settled_after,
            "as_of": s.as_of,
            "cause": s.cause,
        }
        for s in settlements
    ]
    session.execute(_SETTLE_INVOICES, {"tenant": tenant, "now": now, "rows": _rows(rows)})


# -- accounts ------------------------------------------------------------------------------------

AccountKey = tuple[str, str]
"""(account id, currency)"""

_SET_CREDIT = text(
    """
    INSERT INTO reporting.accounts AS a (tenant_id, account_id, currency, credit_balance, credit_as_of, updated_at)
    SELECT :tenant, v.account_id, v.currency, v.credit, v.as_of, :now
    FROM json_to_recordset(CAST(:rows AS json))
         AS v(account_id text, currency text, credit numeric, as_of timestamptz)
    ORDER BY v.account_id, v.currency
    ON CONFLICT (tenant_id, account_id, currency) DO UPDATE SET
        credit_balance = EXCLUDED.credit_balance,
        credit_as_of = EXCLUDED.credit_as_of,
        updated_at = EXCLUDED.updated_at
    WHERE (a.credit_as_of IS NULL OR a.credit_as_of <= EXCLUDED.credit_as_of)
      AND (a.credit_balance, a.credit_as_of) IS DISTINCT FROM (EXCLUDED.credit_balance, EXCLUDED.credit_as_of)
    """
)


def set_credits(
    session: Session, tenant: str, credits: Mapping[AccountKey, tuple[datetime, Decimal]], now: datetime
) -> None:
    """Rule 5: each (account, currency) credit is reconciliation's newest ``credit_balance_after``."""
    if not credits:
        return
    rows = [
        {"account_id": a, "currency": c, "credit": credit, "as_of": as_of}
        for (a, c), (as_of, credit) in credits.items()
    ]
    session.execute(_SET_CREDIT, {"tenant": tenant, "now": now, "rows": _rows(rows)})


class Aging(NamedTuple):
    bucket: str
    stage: str | None
    days_past_due: int


_SET_BUCKETS = text(
    """
    INSERT INTO reporting.accounts AS a (tenant_id, account_id, currency, bucket, stage, days_past_due, aged_at,
                                         updated_at)
    SELECT :tenant, v.account_id, v.currency, v.bucket, v.stage, v.dpd, v.as_of, :now
    FROM json_to_recordset(CAST(:rows AS json))
         AS v(account_id text, currency text, bucket text, stage text, dpd bigint, as_of timestamptz)
    ORDER BY v.account_id, v.currency
    ON CONFLICT (tenant_id, account_id, currency) DO UPDATE SET
        bucket = EXCLUDED.bucket,
        stage = EXCLUDED.stage,
        days_past_due = EXCLUDED.days_past_due,
        aged_at = EXCLUDED.aged_at,
        updated_at = EXCLUDED.updated_at
    WHERE (a.aged_at IS NULL OR a.aged_at <= EXCLUDED.aged_at)
      AND (a.bucket, a.stage, a.days_past_due, a.aged_at)
          IS DISTINCT FROM (EXCLUDED.bucket, EXCLUDED.stage, EXCLUDED.days_past_due, EXCLUDED.aged_at)
    """
)


def set_buckets(
    session: Session, tenant: str, buckets: Mapping[AccountKey, tuple[datetime, Aging]], now: datetime
) -> None:
    """Each (account, currency) bucket as aging named it, unless a newer ``account.aged`` already arrived."""
    if not buckets:
        return
    rows = [
        {
            "account_id": a,
            "currency": c,
            "bucket": g.bucket,
            "stage": g.stage,
            "dpd": g.days_past_due,
            "as_of": as_of,
        }
        for (a, c), (as_of, g) in buckets.items()
    ]
    session.execute(_SET_BUCKETS, {"tenant": tenant, "now": now, "rows": _rows(rows)})


_ANNOUNCED = text(
    """
    SELECT a.account_id, a.currency FROM reporting.accounts a
    JOIN json_to_recordset(CAST(:keys AS json)) AS k(account_id text, currency text)
      ON a.account_id = k.account_id AND a.currency = k.currency
    WHERE a.tenant_id = :tenant AND a.bucket IS NOT NULL
    """
)


def announced(session: Session, tenant: str, keys: Iterable[AccountKey]) -> set[AccountKey]:
    """Which of these (account, currency) already had an ``account.aged`` projected."""
    wanted = [{"account_id": a, "currency": c} for a, c in set(keys)]
    if not wanted:
        return set()
    return {(r[0], r[1]) for r in session.execute(_ANNOUNCED, {"tenant": tenant, "keys": _rows(wanted)})}


_SET_DIMENSIONS = text(
    """
    INSERT INTO reporting.accounts AS a (tenant_id, account_id, currency, product_line, advisor_id, office_id,
                                         agency_id, last_issued_on, updated_at)
    SELECT :tenant, v.account_id, v.currency, v.product_line, v.advisor_id, v.office_id, v.agency_id,
           v.issued_on, :now
    FROM json_to_recordset(CAST(:rows AS json))
         AS v(account_id text, currency text, product_line text, advisor_id text, office_id text,
              agency_id text, issued_on date)
    ORDER BY v.account_id, v.currency
    ON CONFLICT (tenant_id, account_id, currency) DO UPDATE SET
        product_line = EXCLUDED.product_line,
        advisor_id = EXCLUDED.advisor_id,
        office_id = EXCLUDED.office_id,
        agency_id = EXCLUDED.agency_id,
        last_issued_on = EXCLUDED.last_issued_on,
        updated_at = EXCLUDED.updated_at
    WHERE (a.last_issued_on IS NULL OR a.last_issued_on <= EXCLUDED.last_issued_on)
      AND (a.product_line, a.advisor_id, a.office_id, a.agency_id, a.last_issued_on)
          IS DISTINCT FROM (EXCLUDED.product_line, EXCLUDED.advisor_id, EXCLUDED.office_id, EXCLUDED.agency_id,
                            EXCLUDED.last_issued_on)
    """
)


class Dimensions(NamedTuple):
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
    rows = [
        {
            "account_id": a,
            "currency": c,
            "product_line": d.product_line,
            "advisor_id": d.advisor_id,
            "office_id": d.office_id,
            "agency_id": d.agency_id,
            "issued_on": d.issued_on,
        }
        for (a, c), d in dims.items()
    ]
    session.execute(_SET_DIMENSIONS, {"tenant": tenant, "now": now, "rows": _rows(rows)})


# -- the tenant's first bucket --------------------------------------------------------------------

_LEARN_FIRST_BUCKET = text(
    """
    INSERT INTO reporting.first_buckets AS f (tenant_id, bucket, stage, learned_at)
    VALUES (:tenant, :bucket, :stage, :learned_at)
    ON CONFLICT (tenant_id) DO UPDATE SET
        bucket = EXCLUDED.bucket, stage = EXCLUDED.stage, learned_at = EXCLUDED.learned_at
    WHERE (f.learned_at IS NULL OR f.learned_at <= EXCLUDED.learned_at)
      AND (f.bucket, f.stage, f.learned_at) IS DISTINCT FROM (EXCLUDED.bucket, EXCLUDED.stage, EXCLUDED.learned_at)
    """
)
_SCHEME_FIRST_BUCKET = text(
    """
    WITH scheme AS (
        UPDATE reporting.first_buckets SET bucket = :bucket, stage = :stage
        WHERE tenant_id = :tenant AND learned_at IS NULL
          AND (bucket, stage) IS DISTINCT FROM (CAST(:bucket AS text), CAST(:stage AS text))
        RETURNING tenant_id
    )
    INSERT INTO reporting.first_buckets (tenant_id, bucket, stage, learned_at)
    SELECT :tenant, :bucket, :stage, NULL
    WHERE NOT EXISTS (SELECT FROM reporting.first_buckets WHERE tenant_id = :tenant)
    ON CONFLICT (tenant_id) DO NOTHING
    """
)
"""One round trip (every invoices and allocations batch asks). A plain UPDATE and an INSERT … DO
NOTHING lock nothing when the row already says it: an ``ON CONFLICT DO UPDATE … WHERE`` would lock
the tenant's row even when it changes nothing. The INSERT is skipped (no conflict to resolve) once
the tenant has its row."""


def learn_first_bucket(session: Session, tenant: str, first: FirstBucket, as_of: datetime) -> None:
    """The tenant's first bucket, as the latest evidence from aging's events says (a scheme may be renamed)."""
    session.execute(
        _LEARN_FIRST_BUCKET,
        {"tenant": tenant, "bucket": first.bucket, "stage": first.stage, "learned_at": as_of},
    )


def scheme_first_bucket(session: Session, tenant: str, first: SchemeBucket) -> None:
    """The first bucket of the tenant's scheme file, until an event of aging's reveals one."""
    session.execute(
        _SCHEME_FIRST_BUCKET, {"tenant": tenant, "bucket": first.name, "stage": first.stage or None}
    )


# -- payments --------------------------------------------------------------------------------------


class Placement(NamedTuple):
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
    FROM json_to_recordset(CAST(:rows AS json))
         AS v(payment_id text, state text, account_id text, currency text, amount numeric, reason text,
              received_on date)
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
    rows = [
        {
            "payment_id": p.payment_id,
            "state": p.state,
            "account_id": p.account_id,
            "currency": p.currency,
            "amount": p.suspense_amount,
            "reason": p.suspense_reason,
            "received_on": p.received_on,
        }
        for p in placements
    ]
    session.execute(_PLACE_PAYMENTS, {"tenant": tenant, "now": now, "rows": _rows(rows)})


class Received(NamedTuple):
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
    WHERE tenant_id = :tenant AND reversed <> 'Y'
      AND payment_id = ANY(CAST(:ids AS text[]))
    """
)
_RECEIVE_PAYMENTS = text(
    """
    INSERT INTO reporting.payments (tenant_id, payment_id, account_id, amount, currency, received_on, reversed)
    SELECT :tenant, v.payment_id, v.account_id, v.amount, v.currency, v.received_on, v.reversed
    FROM json_to_recordset(CAST(:rows AS json))
         AS v(payment_id text, account_id text, amount numeric, currency text, received_on date, reversed text)
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
        session.execute(_REVERSE_PAYMENTS, {"tenant": tenant, "ids": text_array(ids)})
    if not received:
        return
    rows = [
        {
            "payment_id": r.payment_id,
            "account_id": r.account_id,
            "amount": r.amount,
            "currency": r.currency,
            "received_on": r.received_on,
            "reversed": "Y" if r.reversed else "N",
        }
        for r in received
    ]
    session.execute(_RECEIVE_PAYMENTS, {"tenant": tenant, "rows": _rows(rows)})


# -- promises and contacts -------------------------------------------------------------------------


class PromiseRow(NamedTuple):
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
    FROM json_to_recordset(CAST(:rows AS json))
         AS v(promise_id text, account_id text, amount numeric, paid_amount numeric, currency text, due_on date,
              status text)
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
    values = [r._asdict() for r in rows]  # the json_to_recordset columns are the row's fields
    session.execute(_UPSERT_PROMISES, {"tenant": tenant, "now": now, "rows": _rows(values)})


class ContactRow(NamedTuple):
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
    FROM json_to_recordset(CAST(:rows AS json))
         AS v(contact_id text, account_id text, channel text, strategy text, step text, status text)
    ORDER BY v.contact_id
    ON CONFLICT (tenant_id, contact_id) DO UPDATE SET
        account_id = EXCLUDED.account_id, channel = EXCLUDED.channel, status = EXCLUDED.status,
        updated_at = EXCLUDED.updated_at
    WHERE EXCLUDED.status <> 'due'
      AND (c.account_id, c.channel, c.status) IS DISTINCT FROM (EXCLUDED.account_id, EXCLUDED.channel, EXCLUDED.status)
    """
)


def upsert_contacts(session: Session, tenant: str, rows: Sequence[ContactRow], now: datetime) -> None:
    if not rows:
        return
    values = [r._asdict() for r in rows]  # the json_to_recordset columns are the row's fields
    session.execute(_UPSERT_CONTACTS, {"tenant": tenant, "now": now, "rows": _rows(values)})
