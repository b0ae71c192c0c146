"""Set-based reads and writes of the account profiles for one batch of one tenant.

``load_profiles`` locks the batch's accounts first, in account order (with the owners of the
invoices the batch's allocations name), so two replicas never refresh the same account at once
and never deadlock; then it reads, one query per table, every fact the batch's events can reach:
all facts of those accounts, and any row keyed by an id the batch names (an invoice, payment or
promise id of another account is still the same row). ``save_profiles`` writes back what the
batch changed, one statement per table, the rows as one JSON array the server reads (so the
statement text is the same whatever the batch size).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Integer, Numeric, Table, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from libs.events.registry import DecodedEvent
from libs.runtime.pg_arrays import text_array
from services.segmentation.adapters.orm import (
    accounts,
    aging_history,
    early_open_amounts,
    invoices,
    payments,
    promise_outcomes,
)
from services.segmentation.domain.profiles import Aging, Invoice, Payment, Profiles, PromiseOutcome


@dataclass(frozen=True)
class Scope:
    """What a batch can reach, known from its payloads before any row is read."""

    accounts: Sequence[str]
    """accounts the payloads name (created when new)"""
    invoice_ids: Sequence[str]
    """invoices the batch issues, adjusts, cancels or allocates to (and their early open amounts)"""
    allocated_ids: Sequence[str]
    """invoices whose open amount the batch sets: their accounts are refreshed too"""
    payment_ids: Sequence[str]
    aging_ids: Sequence[str]
    promise_ids: Sequence[str]


def scope_of(events: Iterable[DecodedEvent[Any]]) -> Scope:
    account_ids: set[str] = set()
    invoice_ids: set[str] = set()
    allocated: set[str] = set()
    payment_ids: set[str] = set()
    aging_ids: set[str] = set()
    promise_ids: set[str] = set()
    for event in events:
        payload: Any = event.payload
        kind = event.envelope.type
        if kind == "cobranza.customer.upserted":
            account_ids.update(payload.account_ids)
            continue
        if payload.account_id is not None:
            account_ids.add(payload.account_id)
        if kind == "cobranza.account.aged":
            aging_ids.add(event.id)
        elif kind in ("cobranza.promise.kept", "cobranza.promise.broken"):
            promise_ids.add(payload.promise_id)
        elif kind in ("cobranza.payment.received", "cobranza.payment.reversed"):
            payment_ids.add(payload.payment_id)
        elif kind == "cobranza.payment.applied":
            payment_ids.add(payload.payment_id)
            allocated.update(a.invoice_id for a in payload.allocations)
        elif kind == "cobranza.payment.reversal_applied":
            allocated.update(r.invoice_id for r in payload.reopened)
        else:  # invoice issued, adjusted, cancelled
            invoice_ids.add(payload.invoice_id)
    return Scope(
        accounts=sorted(account_ids),
        invoice_ids=sorted(invoice_ids | allocated),
        allocated_ids=sorted(allocated),
        payment_ids=sorted(payment_ids),
        aging_ids=sorted(aging_ids),
        promise_ids=sorted(promise_ids),
    )


def _columns(table: Table) -> list[str]:
    return [c.name for c in table.columns if c.name != "tenant_id"]


_ACCOUNT_COLUMNS = _columns(accounts)
_READ_ACCOUNT_COLUMNS = [c for c in _ACCOUNT_COLUMNS if c != "reasons"]
"""``reasons`` is only ever replaced (by the batch's last assignment of the account), never read
here: a row written without new reasons keeps its stored ones (``COALESCE`` in the upsert)."""
_LOCK_ACCOUNTS = text(
    f"""
    SELECT {", ".join(_READ_ACCOUNT_COLUMNS)} FROM segmentation.accounts
    WHERE tenant_id = :tenant
      AND account_id IN (
          SELECT unnest(CAST(:ids AS text[]))
          UNION
          SELECT account_id FROM segmentation.invoices
          WHERE tenant_id = :tenant AND invoice_id = ANY(CAST(:allocated AS text[])))
    ORDER BY account_id FOR UPDATE
    """
)
_INVOICES = text(
    """
    SELECT invoice_id, account_id, amount, open_amount, currency, issued_on, due_on, cancelled
    FROM segmentation.invoices
    WHERE tenant_id = :tenant
      AND (account_id = ANY(CAST(:accounts AS text[])) OR invoice_id = ANY(CAST(:ids AS text[])))
    """
)
_PAYMENTS = text(
    """
    SELECT payment_id, account_id, amount, currency, received_on, on_time, reversed
    FROM segmentation.payments
    WHERE tenant_id = :tenant
      AND (account_id = ANY(CAST(:accounts AS text[])) OR payment_id = ANY(CAST(:ids AS text[])))
    """
)
_AGING = text(
    """
    SELECT event_id, account_id, currency, effective_on, bucket, stage, days_past_due, overdue_amount
    FROM segmentation.aging_history
    WHERE tenant_id = :tenant
      AND (account_id = ANY(CAST(:accounts AS text[])) OR event_id = ANY(CAST(:ids AS text[])))
    """
)
_PROMISES = text(
    """
    SELECT promise_id, account_id, outcome, due_on
    FROM segmentation.promise_outcomes
    WHERE tenant_id = :tenant
      AND (account_id = ANY(CAST(:accounts AS text[])) OR promise_id = ANY(CAST(:ids AS text[])))
    """
)
_EARLY = text(
    """
    SELECT invoice_id, open_amount FROM segmentation.early_open_amounts
    WHERE tenant_id = :tenant AND invoice_id = ANY(CAST(:ids AS text[]))
    ORDER BY invoice_id FOR UPDATE
    """
)


def load_profiles(session: Session, tenant: str, scope: Scope, now: datetime) -> Profiles:
    """The profiles of the batch's accounts with every fact the batch reaches, accounts locked."""
    rows = session.execute(
        _LOCK_ACCOUNTS,
        {"tenant": tenant, "ids": text_array(scope.accounts), "allocated": text_array(scope.allocated_ids)},
    )
    found = [dict(r) for r in rows.mappings().all()]
    reach = text_array(sorted({*scope.accounts, *(r["account_id"] for r in found)}))

    def read(statement: Any, ids: Sequence[str]) -> Any:
        return session.execute(statement, {"tenant": tenant, "accounts": reach, "ids": text_array(ids)}).all()

    early: dict[str, Decimal] = {}
    if scope.invoice_ids:
        early = {
            r.invoice_id: r.open_amount
            for r in session.execute(_EARLY, {"tenant": tenant, "ids": text_array(scope.invoice_ids)})
        }
    return Profiles(
        now,
        accounts=found,
        invoices=[Invoice(*r) for r in read(_INVOICES, scope.invoice_ids)],
        payments=[Payment(*r) for r in read(_PAYMENTS, scope.payment_ids)],
        aging=[Aging(*r) for r in read(_AGING, scope.aging_ids)],
        promises=[PromiseOutcome(*r) for r in read(_PROMISES, scope.promise_ids)],
        early_open_amounts=early,
    )


def _plain(value: Decimal) -> str:
    return format(value, "f")


_TO_JSON: dict[type, Any] = {Decimal: _plain, date: date.isoformat, datetime: datetime.isoformat}


def _json(value: Any) -> str:
    """Money as plain digits, dates and times in ISO 8601 (with their offset): what the casts read."""
    convert = _TO_JSON.get(type(value))
    if convert is None:
        raise TypeError(f"cannot write {type(value).__name__} to segmentation's tables")
    return str(convert(value))


def _sql_type(table: Table, name: str) -> str:
    kind = table.c[name].type
    if isinstance(kind, JSONB):
        return "jsonb"
    if isinstance(kind, DateTime):
        return "timestamptz"
    if isinstance(kind, Date):
        return "date"
    if isinstance(kind, Numeric):
        return "numeric"
    if isinstance(kind, Boolean):
        return "boolean"
    if isinstance(kind, Integer):
        return "integer"
    return "text"


def _value_of(table: Table, name: str, i: int) -> str:
    """Element ``i`` of a row as the column's type; a JSON column is nested as it is (null: NULL)."""
    kind = _sql_type(table, name)
    if kind == "jsonb":
        return f"NULLIF(r->{i}, 'null'::jsonb)"
    return f"CAST(r->>{i} AS {kind})"


def _upsert(table: Table, columns: Sequence[str], conflict: str, tail: str) -> Any:
    """``INSERT … SELECT`` of rows given as one JSON array of arrays (one parameter, parsed by the server).

    ``jsonb``, not ``json``: the array is parsed once, and each ``r->>i`` is then a lookup (a
    ``json`` value is re-parsed by every ``->>``, 30 times per account row).
    """
    values = ", ".join(_value_of(table, name, i) for i, name in enumerate(columns))
    return text(
        f"INSERT INTO segmentation.{table.name} AS t (tenant_id, {', '.join(columns)}) "
        f"SELECT :tenant, {values} FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS r "
        f"ON CONFLICT ({conflict}) {tail}"
    )


def _set_excluded(*names: str) -> str:
    return "DO UPDATE SET " + ", ".join(f"{name} = EXCLUDED.{name}" for name in names)


_WRITE_ACCOUNTS = _upsert(
    accounts,
    _ACCOUNT_COLUMNS,
    "tenant_id, account_id",
    _set_excluded(*(c for c in _ACCOUNT_COLUMNS if c not in ("account_id", "reasons")))
    + ", reasons = COALESCE(EXCLUDED.reasons, t.reasons)",
)
_INVOICE_COLUMNS = _columns(invoices)
_WRITE_INVOICES = _upsert(
    invoices,
    _INVOICE_COLUMNS,
    "tenant_id, invoice_id",
    _set_excluded("amount", "open_amount", "due_on", "cancelled"),
)
_PAYMENT_COLUMNS = _columns(payments)
_WRITE_PAYMENTS = _upsert(payments, _PAYMENT_COLUMNS, "tenant_id, payment_id", _set_excluded("reversed"))
_AGING_COLUMNS = _columns(aging_history)
_WRITE_AGING = _upsert(aging_history, _AGING_COLUMNS, "tenant_id, event_id", "DO NOTHING")
_PROMISE_COLUMNS = _columns(promise_outcomes)
_WRITE_PROMISES = _upsert(
    promise_outcomes, _PROMISE_COLUMNS, "tenant_id, promise_id", _set_excluded("outcome")
)
_EARLY_COLUMNS = _columns(early_open_amounts)
_WRITE_EARLY = _upsert(
    early_open_amounts, _EARLY_COLUMNS, "tenant_id, invoice_id", _set_excluded("open_amount", "received_at")
)
_DROP_EARLY = text(
    """
    DELETE FROM segmentation.early_open_amounts
    WHERE tenant_id = :tenant AND invoice_id = ANY(CAST(:ids AS text[]))
    """
)


def _write(session: Session, statement: Any, tenant: str, rows: Sequence[Sequence[Any]]) -> None:
    if rows:
        session.execute(
            statement, {"tenant": tenant, "rows": json.dumps(rows, default=_json, separators=(",", ":"))}
        )


def _account_values(row: dict[str, Any]) -> list[Any]:
    """The row's columns; ``reasons`` and ``currencies`` nest in the written JSON as they are."""
    return [row.get(name) for name in _ACCOUNT_COLUMNS]


def save_profiles(session: Session, tenant: str, profiles: Profiles) -> None:
    """Write back what the batch changed, one statement per table, rows in key order."""
    _write(
        session,
        _WRITE_ACCOUNTS,
        tenant,
        [_account_values(profiles.accounts[k]) for k in sorted(profiles.changed_accounts)],
    )
    _write(
        session,
        _WRITE_INVOICES,
        tenant,
        [
            [getattr(profiles.invoices[k], name) for name in _INVOICE_COLUMNS]
            for k in sorted(profiles.changed_invoices)
        ],
    )
    _write(
        session,
        _WRITE_PAYMENTS,
        tenant,
        [
            [getattr(profiles.payments[k], name) for name in _PAYMENT_COLUMNS]
            for k in sorted(profiles.changed_payments)
        ],
    )
    _write(
        session,
        _WRITE_AGING,
        tenant,
        [[getattr(a, name) for name in _AGING_COLUMNS] for a in profiles.new_aging],
    )
    _write(
        session,
        _WRITE_PROMISES,
        tenant,
        [
            [getattr(profiles.promises[k], name) for name in _PROMISE_COLUMNS]
            for k in sorted(profiles.changed_promises)
        ],
    )
    taken = profiles.early_taken
    if taken:
        session.execute(_DROP_EARLY, {"tenant": tenant, "ids": text_array(taken)})
    _write(
        session,
        _WRITE_EARLY,
        tenant,
        [[k, profiles.early[k], profiles.now] for k in sorted(profiles.changed_early)],
    )
