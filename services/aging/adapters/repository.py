"""Set-based re-aging over aging's own tables.

One code path serves both the nightly pass (every account of a tenant in one
timezone) and the re-age of one account after a payment, adjustment or
reversal: a handful of UPDATE … / INSERT … SELECT statements, never one ORM
object per row. The local date of each invoice is ``:now AT TIME ZONE
timezone`` (``:now`` comes from the unit of work's clock, never SQL ``now()``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, TextClause, text
from sqlalchemy.orm import Session

from libs.runtime.pg_arrays import pg_array
from services.aging.domain.ledger import EarlyAmount, Invoice
from services.aging.domain.rules import BucketScheme

LOCAL_DATE = "(CAST(:now AS timestamptz) AT TIME ZONE {alias}timezone)::date"


@dataclass(frozen=True)
class Scope:
    """Which rows a re-age touches: a tenant's timezone (nightly) or some of its accounts (on events)."""

    tenant: str
    timezone: str | None = None
    account_ids: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if (self.timezone is None) == (self.account_ids is None):
            raise ValueError("a scope is either a timezone or a set of accounts")

    def where(self, alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        if self.timezone is not None:
            return f"{prefix}tenant_id = :tenant AND {prefix}timezone = :scope_tz"
        return f"{prefix}tenant_id = :tenant AND {prefix}account_id = ANY(CAST(:scope_accounts AS text[]))"

    def params(self) -> dict[str, Any]:
        if self.timezone is not None:
            return {"tenant": self.tenant, "scope_tz": self.timezone}
        return {"tenant": self.tenant, "scope_accounts": pg_array(list(self.account_ids or ()))}


@dataclass(frozen=True)
class Transition:
    account_id: str
    currency: str
    from_bucket: str
    to_bucket: str
    dpd: int
    overdue_amount: Decimal
    transitioned_on: date
    from_stage: str | None = None
    to_stage: str | None = None


@dataclass(frozen=True)
class LapseChange:
    invoice_id: str
    account_id: str
    policy_number: str
    due_on: date
    lapse_on: date
    grace_days: int
    product_line: str
    open_amount: Decimal
    currency: str
    status: str


@dataclass
class ReageResult:
    invoices_updated: int = 0
    accounts_updated: int = 0
    transitions: list[Transition] = field(default_factory=list)
    lapse_cancelled: list[LapseChange] = field(default_factory=list)
    lapse_scheduled: list[LapseChange] = field(default_factory=list)
    lapsed: list[LapseChange] = field(default_factory=list)


def bucket_case(scheme: BucketScheme, column: str, params: dict[str, Any]) -> str:
    """A CASE expression mapping ``column`` (DPD) to the scheme's bucket name, with bound parameters."""
    parts = []
    for i, bucket in enumerate(reversed(scheme.buckets[1:])):
        params[f"b_min_{i}"] = bucket.min_dpd
        params[f"b_name_{i}"] = bucket.name
        parts.append(f"WHEN {column} >= :b_min_{i} THEN CAST(:b_name_{i} AS varchar)")
    params["b_current"] = scheme.current
    return f"CASE {' '.join(parts)} ELSE CAST(:b_current AS varchar) END"


_REAGE_INVOICES = """
WITH u AS (
UPDATE aging.invoices i
   SET dpd = n.dpd,
       updated_at = CASE WHEN n.old_dpd IS DISTINCT FROM n.dpd THEN :now ELSE i.updated_at END,
       lapse_on = n.new_lapse_on,
       lapse_state = n.new_state
  FROM (
    SELECT l.*, CASE WHEN l.lapses THEN 'lapsed' ELSE l.stepped END AS new_state
      FROM (
        SELECT s.*, COALESCE(s.stepped = 'scheduled' AND s.dpd > 0 AND s.new_lapse_on <= s.on_date, false)
                    AS lapses
          FROM (
            SELECT c.*,
                   CASE WHEN c.schedules THEN 'scheduled' WHEN c.cancels THEN 'cancelled' ELSE c.old_state END
                       AS stepped,
                   CASE WHEN c.schedules THEN c.due_on + c.grace_days ELSE c.old_lapse_on END AS new_lapse_on
              FROM (
                SELECT d.*,
                       COALESCE(d.old_state = 'scheduled' AND d.dpd = 0, false) AS cancels,
                       COALESCE(d.policy_number IS NOT NULL AND d.grace_days IS NOT NULL AND d.dpd > 0
                                AND (d.old_state IS NULL OR d.old_state = 'cancelled'
                                     OR (d.old_state = 'scheduled' AND d.old_lapse_on <> d.due_on + d.grace_days)),
                                false) AS schedules
                  FROM (
                    SELECT x.ctid AS row_id, x.dpd AS old_dpd, x.lapse_state AS old_state,
                           x.lapse_on AS old_lapse_on, x.policy_number, x.grace_days, x.due_on, t.on_date,
                           CASE WHEN x.status = 'open' AND x.open_amount > 0
                                THEN GREATEST(0, t.on_date - x.due_on) ELSE 0 END AS dpd
                      FROM aging.invoices x
                     CROSS JOIN LATERAL (SELECT {local} AS on_date) t
                     WHERE {where}
                  ) d
              ) c
          ) s
      ) l
     WHERE l.old_dpd IS DISTINCT FROM l.dpd OR l.cancels OR l.schedules OR l.lapses
  ) n
 WHERE i.ctid = n.row_id
RETURNING i.invoice_id, i.account_id, i.policy_number, i.due_on, i.lapse_on, i.grace_days, i.product_line,
          i.open_amount, i.currency, i.status, n.old_dpd IS DISTINCT FROM n.dpd AS dpd_changed, n.cancels,
          n.schedules, n.lapses
)
SELECT invoice_id, account_id, policy_number, due_on, lapse_on, grace_days, product_line, open_amount, currency,
       status, 0::bigint, cancels, schedules, lapses
  FROM u WHERE cancels OR schedules OR lapses
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, count(*) FILTER (WHERE dpd_changed),
       false, false, false
  FROM u
"""
"""Every invoice's DPD (computed once per row, on its debtor's local date) and policy lapse in one
pass: cancelled once nothing is overdue, scheduled (or moved) at ``due_on + grace_days`` while
overdue, lapsed once that date has come, which can follow scheduling in the same pass. The rows
are found again by ``ctid`` (read in this statement's snapshot, so it is the row read)."""

_REAGE_ACCOUNTS = """
WITH agg AS (
    SELECT s.tenant_id, s.account_id, s.currency, s.bucket AS old_bucket,
           {local_s} AS on_date,
           COALESCE(MAX(i.dpd), 0) AS dpd,
           COALESCE(SUM(i.open_amount) FILTER (WHERE i.dpd > 0), 0) AS overdue
    FROM aging.account_state s
    LEFT JOIN aging.invoices i
      ON i.tenant_id = s.tenant_id AND i.account_id = s.account_id AND i.currency = s.currency
     AND i.status = 'open' AND i.open_amount > 0
    WHERE {where_s}
    GROUP BY s.tenant_id, s.account_id, s.currency, s.bucket, s.timezone
), calc AS (
    SELECT c.*, {case} AS bucket FROM agg c
), upd AS (
    UPDATE aging.account_state s
       SET dpd = c.dpd, overdue_amount = c.overdue, bucket = c.bucket, updated_at = :now,
           bucket_since = CASE WHEN c.bucket <> c.old_bucket THEN c.on_date ELSE s.bucket_since END
      FROM calc c
     WHERE s.tenant_id = c.tenant_id AND s.account_id = c.account_id AND s.currency = c.currency
       AND (s.dpd <> c.dpd OR s.overdue_amount <> c.overdue OR s.bucket <> c.bucket)
    RETURNING s.tenant_id, s.account_id, s.currency, c.old_bucket, s.bucket, s.dpd,
              s.overdue_amount, c.on_date
), moved AS (
    INSERT INTO aging.bucket_transitions
        (tenant_id, account_id, currency, from_bucket, to_bucket, transitioned_on, at, dpd,
         overdue_amount)
    SELECT tenant_id, account_id, currency, old_bucket, bucket, on_date, :now, dpd, overdue_amount
      FROM upd WHERE old_bucket <> bucket
    RETURNING account_id, currency, from_bucket, to_bucket, dpd, overdue_amount, transitioned_on
)
SELECT (SELECT count(*) FROM upd) AS updated, moved.* FROM moved
UNION ALL
SELECT (SELECT count(*) FROM upd), NULL, NULL, NULL, NULL, NULL, NULL, NULL
"""
"""Accounts: the oldest unpaid invoice's DPD, the overdue amount, the bucket; a change of bucket kept."""

_reage_sql: dict[tuple[object, ...], tuple[TextClause, TextClause, dict[str, Any]]] = {}


def _reage_statements(scope: Scope, scheme: BucketScheme) -> tuple[TextClause, TextClause, dict[str, Any]]:
    """The re-age statements for this kind of scope and bucket scheme (built once, then cached)."""
    key = (scope.timezone is None, scheme.buckets)
    cached = _reage_sql.get(key)
    if cached is None:
        params: dict[str, Any] = {}
        case = bucket_case(scheme, "c.dpd", params)
        invoices_sql = _REAGE_INVOICES.format(local=LOCAL_DATE.format(alias="x."), where=scope.where("x"))
        accounts_sql = _REAGE_ACCOUNTS.format(
            local_s=LOCAL_DATE.format(alias="s."), where_s=scope.where("s"), case=case
        )
        cached = _reage_sql[key] = (text(invoices_sql), text(accounts_sql), params)
    return cached


def reage(session: Session, scope: Scope, scheme: BucketScheme, now: datetime) -> ReageResult:
    """Bring invoices' and accounts' DPD, buckets and policy lapses up to ``now``: two statements.

    Rows whose values do not change are not written. A timezone's nightly pass goes through
    ``_reage_pass`` (the same rules, one statement per step).
    """
    if scope.timezone is not None:
        return _reage_pass(session, scope, scheme, now)
    invoices_sql, accounts_sql, bucket_params = _reage_statements(scope, scheme)
    params: dict[str, Any] = {"now": now, **scope.params(), **bucket_params}
    result = ReageResult()
    for *values, dpd_changed, cancels, schedules, lapses in session.execute(invoices_sql, params).all():
        if values[0] is None:  # the count row: only the lapse changes travel back, never every re-aged row
            result.invoices_updated = int(dpd_changed)
        else:
            change = LapseChange(*values)
            if cancels:
                result.lapse_cancelled.append(change)
            if schedules:
                result.lapse_scheduled.append(change)
            if lapses:
                result.lapsed.append(change)
    for changes in (result.lapse_cancelled, result.lapse_scheduled, result.lapsed):
        changes.sort(key=lambda x: x.invoice_id)
    _reage_accounts(session, accounts_sql, params, scheme, result)
    return result


def _reage_accounts(
    session: Session,
    accounts_sql: TextClause,
    params: dict[str, Any],
    scheme: BucketScheme,
    result: ReageResult,
) -> None:
    """Run ``_REAGE_ACCOUNTS``: the count of accounts updated and their bucket transitions (with
    stages), in account order, into ``result``."""
    stages = {b.name: b.stage for b in scheme.buckets}
    for updated, *moved in session.execute(accounts_sql, params).all():
        result.accounts_updated = int(updated)
        if moved[0] is not None:
            t = Transition(*moved)
            result.transitions.append(
                replace(t, from_stage=stages.get(t.from_bucket), to_stage=stages.get(t.to_bucket))
            )
    result.transitions.sort(key=lambda t: (t.account_id, t.currency))


_LAPSE_COLUMNS = (
    "invoice_id, account_id, policy_number, due_on, lapse_on, grace_days, product_line, "
    "open_amount, currency, status"
)


def _lapses(session: Session, sql: str, params: dict[str, Any]) -> list[LapseChange]:
    rows = session.execute(text(sql + f" RETURNING {_LAPSE_COLUMNS}"), params).all()
    return sorted((LapseChange(*row) for row in rows), key=lambda c: c.invoice_id)


def _reage_pass(session: Session, scope: Scope, scheme: BucketScheme, now: datetime) -> ReageResult:
    """The nightly pass over a timezone: one plain scan per step, no self-join, nothing sent back
    for the invoices whose DPD merely grows (faster than the one-statement form on a whole portfolio:
    bench/aging_reage.py, 100k invoices, a normal night 2.0 s against 2.9 s)."""
    result = ReageResult()
    params: dict[str, Any] = {"now": now, **scope.params()}
    dpd_expr = (
        "CASE WHEN status = 'open' AND open_amount > 0 "
        f"THEN GREATEST(0, {LOCAL_DATE.format(alias='')} - due_on) ELSE 0 END"
    )
    updated = session.execute(
        text(
            f"UPDATE aging.invoices SET dpd = {dpd_expr}, updated_at = :now "
            f"WHERE {scope.where()} AND dpd IS DISTINCT FROM {dpd_expr}"
        ),
        params,
    )
    result.invoices_updated = cast(CursorResult[Any], updated).rowcount

    # Accounts: the oldest unpaid invoice's DPD, the overdue amount, the bucket (the event path's statement).
    _, accounts_sql, bucket_params = _reage_statements(scope, scheme)
    _reage_accounts(session, accounts_sql, {**params, **bucket_params}, scheme, result)

    # Policy lapses: cancel the ones no longer overdue, schedule new ones, lapse the due ones.
    where = scope.where()
    result.lapse_cancelled = _lapses(
        session,
        f"UPDATE aging.invoices SET lapse_state = 'cancelled' "
        f"WHERE {where} AND lapse_state = 'scheduled' AND dpd = 0",
        params,
    )
    result.lapse_scheduled = _lapses(
        session,
        f"UPDATE aging.invoices SET lapse_state = 'scheduled', lapse_on = due_on + grace_days "
        f"WHERE {where} AND policy_number IS NOT NULL AND grace_days IS NOT NULL AND dpd > 0 "
        "AND (lapse_state IS NULL OR lapse_state = 'cancelled' "
        "     OR (lapse_state = 'scheduled' AND lapse_on <> due_on + grace_days))",
        params,
    )
    result.lapsed = _lapses(
        session,
        f"UPDATE aging.invoices SET lapse_state = 'lapsed' "
        f"WHERE {where} AND lapse_state = 'scheduled' AND dpd > 0 "
        f"AND lapse_on <= {LOCAL_DATE.format(alias='')}",
        params,
    )
    return result


def has_open_invoices(session: Session, tenant: str, timezone: str) -> bool:
    return bool(
        session.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM aging.invoices WHERE tenant_id = :tenant AND timezone = :tz "
                "AND status = 'open' AND open_amount > 0)"
            ),
            {"tenant": tenant, "tz": timezone},
        ).scalar_one()
    )


# -- the per-event path, batch by batch ------------------------------------------------------------

_INVOICE_FIELDS = (
    "invoice_id, account_id, amount, settled, settled_at, currency, due_on, timezone, product_line, "
    "policy_number, grace_days, status"
)


def invoices_for_update(session: Session, tenant: str, invoice_ids: Iterable[str]) -> list[Invoice]:
    """The tenant's invoices among ``invoice_ids``, locked in id order (replicas never deadlock)."""
    ids = sorted(set(invoice_ids))
    if not ids:
        return []
    rows = session.execute(
        text(
            f"SELECT {_INVOICE_FIELDS} FROM aging.invoices "
            "WHERE tenant_id = :tenant AND invoice_id = ANY(CAST(:ids AS text[])) "
            "ORDER BY invoice_id FOR UPDATE"
        ),
        {"tenant": tenant, "ids": pg_array(ids)},
    ).all()
    return [Invoice(*row) for row in rows]


def early_for_update(session: Session, tenant: str, invoice_ids: Iterable[str]) -> list[EarlyAmount]:
    ids = sorted(set(invoice_ids))
    if not ids:
        return []
    rows = session.execute(
        text(
            "SELECT invoice_id, account_id, open_amount, settled, at, payment_id FROM aging.early_open_amounts "
            "WHERE tenant_id = :tenant AND invoice_id = ANY(CAST(:ids AS text[])) "
            "ORDER BY invoice_id FOR UPDATE"
        ),
        {"tenant": tenant, "ids": pg_array(ids)},
    ).all()
    return [EarlyAmount(*row) for row in rows]


_WRITE_INVOICES = text(
    """
    INSERT INTO aging.invoices AS i (tenant_id, invoice_id, account_id, amount, open_amount, settled,
        settled_at, currency, due_on, timezone, product_line, policy_number, grace_days, status, updated_at)
    SELECT :tenant, r.invoice_id, r.account_id, r.amount, r.open_amount, r.settled, r.settled_at, r.currency,
           r.due_on, r.timezone, r.product_line, r.policy_number, r.grace_days, r.status, :now
      FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(invoice_id text, account_id text, amount numeric,
           open_amount numeric, settled numeric, settled_at timestamptz, currency text, due_on date,
           timezone text, product_line text, policy_number text, grace_days int, status text)
    ON CONFLICT (tenant_id, invoice_id) DO UPDATE
       SET amount = EXCLUDED.amount, open_amount = EXCLUDED.open_amount, settled = EXCLUDED.settled,
           settled_at = EXCLUDED.settled_at, due_on = EXCLUDED.due_on, status = EXCLUDED.status,
           updated_at = EXCLUDED.updated_at
     WHERE (i.amount, i.open_amount, i.settled, i.settled_at, i.due_on, i.status)
           IS DISTINCT FROM (EXCLUDED.amount, EXCLUDED.open_amount, EXCLUDED.settled, EXCLUDED.settled_at,
                             EXCLUDED.due_on, EXCLUDED.status)
    """
)


def _rows_json(rows: Iterable[dict[str, object]]) -> str:
    """Rows as one JSON array for ``jsonb_to_recordset``: Decimal, date and datetime as their text."""
    return json.dumps(list(rows), separators=(",", ":"), default=str)


def write_invoices(session: Session, tenant: str, rows: Sequence[Invoice], now: datetime) -> None:
    """Insert new invoices and update known ones in one statement (one JSON array, cast server-side)."""
    if not rows:
        return
    session.execute(_WRITE_INVOICES, {"tenant": tenant, "now": now, "rows": _invoice_rows(rows)})


_OPEN_ACCOUNTS = text(
    """
    INSERT INTO aging.account_state (tenant_id, account_id, currency, timezone, bucket, dpd, overdue_amount,
        bucket_since, updated_at)
    SELECT :tenant, r.account_id, r.currency, r.timezone, :bucket, 0, 0, r.since, :now
      FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(account_id text, currency text, timezone text, since date)
    ON CONFLICT (tenant_id, account_id, currency) DO UPDATE SET timezone = EXCLUDED.timezone
     WHERE account_state.timezone IS DISTINCT FROM EXCLUDED.timezone
    """
)

_WRITE_ROUND = text(
    "WITH opened AS (" + _OPEN_ACCOUNTS.text.replace(":rows", ":accounts") + ")" + _WRITE_INVOICES.text
)


def open_accounts(
    session: Session, tenant: str, rows: Sequence[tuple[str, str, str, date]], bucket: str, now: datetime
) -> None:
    """A new (account, currency) starts in ``bucket`` without an event; a known one takes the latest timezone.

    ``rows``: (account_id, currency, timezone, local date of ``now`` there), one per (account, currency).
    """
    if not rows:
        return
    session.execute(
        _OPEN_ACCOUNTS, {"tenant": tenant, "bucket": bucket, "now": now, "rows": _account_rows(rows)}
    )


def write_round(
    session: Session,
    tenant: str,
    rows: Sequence[Invoice],
    opened: Sequence[tuple[str, str, str, date]],
    bucket: str,
    now: datetime,
) -> None:
    """``write_invoices`` and ``open_accounts`` of one round, in one statement when both have rows."""
    if not rows or not opened:
        write_invoices(session, tenant, rows, now)
        open_accounts(session, tenant, opened, bucket, now)
        return
    session.execute(
        _WRITE_ROUND,
        {
            "tenant": tenant,
            "now": now,
            "bucket": bucket,
            "rows": _invoice_rows(rows),
            "accounts": _account_rows(opened),
        },
    )


def _invoice_rows(rows: Sequence[Invoice]) -> str:
    return _rows_json(dict(vars(r), open_amount=r.open_amount) for r in rows)


def _account_rows(rows: Sequence[tuple[str, str, str, date]]) -> str:
    return _rows_json({"account_id": a, "currency": c, "timezone": tz, "since": d} for a, c, tz, d in rows)


def write_early(
    session: Session, tenant: str, early: Sequence[EarlyAmount], gone: Sequence[str], now: datetime
) -> None:
    """Keep the allocations that overtook their invoice; forget the ones an issued invoice took."""
    if gone:
        session.execute(
            text(
                "DELETE FROM aging.early_open_amounts "
                "WHERE tenant_id = :tenant AND invoice_id = ANY(CAST(:ids AS text[]))"
            ),
            {"tenant": tenant, "ids": pg_array(list(gone))},
        )
    if not early:
        return
    payload = _rows_json(
        {
            "invoice_id": e.invoice_id,
            "account_id": e.account_id,
            "open_amount": e.open_amount,
            "settled": e.settled,
            "at": e.at,
            "payment_id": e.payment_id,
        }
        for e in early
    )
    session.execute(
        text(
            """
            INSERT INTO aging.early_open_amounts (tenant_id, invoice_id, account_id, open_amount, settled, at,
                payment_id, received_at)
            SELECT :tenant, r.invoice_id, r.account_id, r.open_amount, r.settled, r.at, r.payment_id, :now
              FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(invoice_id text, account_id text,
                   open_amount numeric, settled numeric, at timestamptz, payment_id text)
            ON CONFLICT (tenant_id, invoice_id) DO UPDATE
               SET account_id = EXCLUDED.account_id, open_amount = EXCLUDED.open_amount,
                   settled = EXCLUDED.settled, at = EXCLUDED.at, payment_id = EXCLUDED.payment_id,
                   received_at = EXCLUDED.received_at
            """
        ),
        {"tenant": tenant, "now": now, "rows": payload},
    )


def pending_timers_at(session: Session, tenant: str, name: str, keys: Iterable[str]) -> dict[str, datetime]:
    """When each of the tenant's timers ``name`` with these keys fires (keys without one are absent)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = session.execute(
        text(
            "SELECT key, fire_at FROM aging.timers "
            "WHERE tenant_id = :tenant AND name = :name AND key = ANY(CAST(:keys AS text[]))"
        ),
        {"tenant": tenant, "name": name, "keys": pg_array(wanted)},
    ).all()
    return {row.key: row.fire_at for row in rows}
