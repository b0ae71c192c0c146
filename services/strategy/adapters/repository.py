"""Set-based reads and writes of strategy's tables for one batch of one tenant.

``load`` locks the batch's accounts first, in account order (an upsert that creates the missing
ones), so two replicas never settle or plan the same account at once and never deadlock; then it
reads, one query per table, every row the batch's events can reach, the rows it will change
locked in key order. ``save`` writes back what the book changed: one statement per table
(the rows as one JSON array the server reads, so the statement is the same whatever the batch size).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.strategy.domain.book import (
    Account,
    Book,
    Bucket,
    Contact,
    Pause,
    Payment,
    PlanTreatment,
    Promise,
)
from services.strategy.domain.playbooks import (
    ActiveStrategies,
    StrategyConfig,
    parse_playbook,
    playbook_document,
)


@dataclass(frozen=True)
class Scope:
    """What a batch can reach, known from its payloads before any row is read."""

    accounts: Sequence[str]
    """every account the batch touches (locked)"""
    planning: Sequence[str]
    """accounts whose buckets and contact plan the batch reads (invoices, segments, aging)"""
    promise_ids: Sequence[str]
    """promises the batch makes"""
    payment_ids: Sequence[str]
    """payments the batch applies or reverses"""
    reversed_ids: Sequence[str]
    """payments the batch reverses"""
    contacts_since: datetime
    """done contacts planned before this cannot share an id with one the batch plans"""
    pause_ids: Sequence[str] = ()
    """pauses the batch starts or ends by id (besides every account's pauses in force)"""


_CUSTOM_PLANS = text("SET LOCAL plan_cache_mode = force_custom_plan")
_LOCK_ACCOUNTS = text(
    """
    INSERT INTO strategy.accounts AS a (tenant_id, account_id, updated_at)
    SELECT :tenant, id, :now FROM unnest(CAST(:ids AS text[])) AS id ORDER BY id
    ON CONFLICT (tenant_id, account_id) DO UPDATE SET updated_at = a.updated_at
    RETURNING a.account_id, a.customer_id, a.timezone, a.country, a.segment
    """
)
# Every read is ``key = ANY(array)`` on an index's leading columns (one probe per key), and the
# "by account, or by id" reads collect their ids first (``ANY(ARRAY(… UNION …))``) so the rows
# locked come from the primary key alone: an OR of the two would be a filter over a whole scan.
_BUCKETS = text(
    """
    SELECT account_id, currency, bucket, stage, cured, entered_at FROM strategy.account_buckets
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS text[]))
    """
)
_CONTRIBUTIONS = text(
    """
    SELECT promise_id, payment_id, amount FROM strategy.promise_payments
    WHERE tenant_id = :tenant AND payment_id = ANY(CAST(:ids AS text[]))
    ORDER BY promise_id, payment_id FOR UPDATE
    """
)
_PROMISES = text(
    """
    SELECT promise_id, account_id, amount, paid_amount, currency, due_on, made_on, deadline, status,
           resolved_at
    FROM strategy.promises
    WHERE tenant_id = :tenant AND promise_id = ANY(ARRAY(
        SELECT promise_id FROM strategy.promises
        WHERE tenant_id = :tenant AND account_id = ANY(CAST(:accounts AS text[]))
          AND status IN ('open', 'broken')
        UNION
        SELECT unnest(CAST(:ids AS text[]))
    ))
    ORDER BY promise_id FOR UPDATE
    """
)
_PAYMENTS = text(
    """
    SELECT payment_id, account_id, currency, amount, unapplied, paid_on, arrived_at, reversed_at
    FROM strategy.payments
    WHERE tenant_id = :tenant AND payment_id = ANY(ARRAY(
        SELECT payment_id FROM strategy.payments
        WHERE tenant_id = :tenant AND account_id = ANY(CAST(:accounts AS text[]))
          AND unapplied > 0 AND reversed_at IS NULL
        UNION
        SELECT unnest(CAST(:ids AS text[]))
    ))
    ORDER BY payment_id FOR UPDATE
    """
)
_CONTACTS = text(
    """
    SELECT contact_id, account_id, currency, channel, kind, playbook, step, template, language,
           planned_for, status, reason, scheduled_for, strategy_version
    FROM strategy.contacts
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS text[]))
      AND (status = 'planned' OR planned_for >= :since)
    ORDER BY contact_id FOR UPDATE
    """
)

_PAUSES = text(
    """
    SELECT pause_id, account_id, reason, until, ends_at, note, agent_id, started_at, ended_at,
           ended_by, resumed_by
    FROM strategy.pauses
    WHERE tenant_id = :tenant AND pause_id = ANY(ARRAY(
        SELECT pause_id FROM strategy.pauses
        WHERE tenant_id = :tenant AND account_id = ANY(CAST(:accounts AS text[])) AND ended_at IS NULL
        UNION
        SELECT unnest(CAST(:ids AS text[]))
    ))
    ORDER BY pause_id FOR UPDATE
    """
)
_PLANS = text(
    """
    SELECT account_id, currency, plan_id, status, since FROM strategy.plan_treatments
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:accounts AS text[]))
    ORDER BY account_id, currency FOR UPDATE
    """
)
# dunning steps sent in the current episode of each (account, currency): since it entered its bucket
_SENT = text(
    """
    SELECT DISTINCT c.account_id, c.currency, c.playbook, c.step
    FROM strategy.contacts c
    JOIN strategy.account_buckets b
      ON b.tenant_id = c.tenant_id AND b.account_id = c.account_id AND b.currency = c.currency
    WHERE c.tenant_id = :tenant AND c.account_id = ANY(CAST(:ids AS text[]))
      AND c.kind = 'dunning' AND c.status = 'due' AND c.planned_for >= b.entered_at - interval '1 day'
    """
)


def load(session: Session, tenant: str, scope: Scope, config: StrategyConfig, now: datetime) -> Book:
    """The book of the batch's accounts, their rows locked (accounts first, in account order)."""
    accounts = sorted(scope.accounts)
    planning = sorted(scope.planning)
    # the same statements run with 1 or 5,000 keys: plan each for its keys, never a generic plan
    # (psycopg prepares repeated statements; a generic plan for ``= ANY($1)`` may scan the table)
    session.execute(_CUSTOM_PLANS)
    rows = session.execute(_LOCK_ACCOUNTS, {"tenant": tenant, "now": now, "ids": accounts})
    found = {
        r.account_id: Account(r.account_id, r.customer_id, r.timezone, r.country, r.segment) for r in rows
    }
    buckets: dict[tuple[str, str], Bucket] = {}
    contacts: dict[str, Contact] = {}
    sent: dict[tuple[str, str], set[tuple[str, str]]] = {}
    if planning:
        for r in session.execute(_BUCKETS, {"tenant": tenant, "ids": planning}):
            buckets[(r.account_id, r.currency)] = Bucket(*r)
        since = {"tenant": tenant, "ids": planning, "since": scope.contacts_since}
        contacts = {r.contact_id: Contact(*r) for r in session.execute(_CONTACTS, since)}
        for r in session.execute(_SENT, {"tenant": tenant, "ids": planning}):
            sent.setdefault((r.account_id, r.currency), set()).add((r.playbook, r.step))
    reach = {"tenant": tenant, "accounts": accounts, "ids": sorted(scope.pause_ids)}
    pauses = {r.pause_id: Pause(*r) for r in session.execute(_PAUSES, reach)}
    plans = {
        (r.account_id, r.currency): PlanTreatment(*r)
        for r in session.execute(_PLANS, {"tenant": tenant, "accounts": accounts})
    }
    stored: dict[tuple[str, str], Decimal] = {}
    if scope.reversed_ids:
        for r in session.execute(_CONTRIBUTIONS, {"tenant": tenant, "ids": sorted(scope.reversed_ids)}):
            stored[(r.promise_id, r.payment_id)] = r.amount
    promise_ids = sorted({*scope.promise_ids, *(promise_id for promise_id, _ in stored)})
    promises = {
        r.promise_id: Promise(*r)
        for r in session.execute(_PROMISES, {"tenant": tenant, "accounts": accounts, "ids": promise_ids})
    }
    payment_ids = sorted(scope.payment_ids)
    payments = {
        r.payment_id: Payment(*r)
        for r in session.execute(_PAYMENTS, {"tenant": tenant, "accounts": accounts, "ids": payment_ids})
    }
    return Book(
        config,
        now,
        accounts=found,
        buckets=buckets,
        promises=promises,
        payments=payments,
        contacts=contacts,
        pauses=pauses,
        plans=plans,
        sent=sent,
        stored_contributions=stored,
    )


def _json(value: Any) -> str:
    """Money as plain digits, dates and times in ISO 8601 (with their offset): what the casts read."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to strategy's tables")


def _upsert(
    table: str, columns: Sequence[tuple[str, str]], conflict: str, tail: str, stamped: bool = False
) -> Any:
    """``INSERT … SELECT`` of the rows given as one JSON array of arrays (one parameter, parsed by the server).

    One cached statement whatever the batch size; the rows cost one ``json.dumps`` in C rather
    than one adapter call per value.
    """
    names = ", ".join(name for name, _ in columns)
    values = ", ".join(f"CAST(r->>{i} AS {kind})" for i, (_, kind) in enumerate(columns))
    stamp = (", updated_at", ", :now") if stamped else ("", "")
    return text(
        f"INSERT INTO strategy.{table} AS t (tenant_id, {names}{stamp[0]}) "
        f"SELECT :tenant, {values}{stamp[1]} FROM json_array_elements(CAST(:rows AS json)) AS r "
        f"ON CONFLICT ({conflict}) DO UPDATE SET {tail}"
    )


def _excluded(*names: str) -> str:
    return ", ".join(f"{name} = EXCLUDED.{name}" for name in names)


_WRITE_ACCOUNTS = _upsert(
    "accounts",
    [
        ("account_id", "text"),
        ("customer_id", "text"),
        ("timezone", "text"),
        ("country", "text"),
        ("segment", "text"),
    ],
    "tenant_id, account_id",
    _excluded("customer_id", "timezone", "country", "segment", "updated_at"),
    stamped=True,
)
_WRITE_BUCKETS = _upsert(
    "account_buckets",
    [
        ("account_id", "text"),
        ("currency", "text"),
        ("bucket", "text"),
        ("stage", "text"),
        ("cured", "boolean"),
        ("entered_at", "timestamptz"),
    ],
    "tenant_id, account_id, currency",
    _excluded("bucket", "stage", "cured", "entered_at", "updated_at"),
    stamped=True,
)
_WRITE_CONSENTS = _upsert(
    "consents",
    [("account_id", "text"), ("channel", "text"), ("consent", "boolean"), ("consented_at", "timestamptz")],
    "tenant_id, account_id, channel",
    _excluded("consent", "consented_at", "updated_at")
    + ", withdrawn_at = CASE WHEN EXCLUDED.consent THEN NULL ELSE t.withdrawn_at END"
    # an opt-out stands until a consent given after it: a re-sent old record does not undo it
    + " WHERE t.withdrawn_at IS NULL OR NOT EXCLUDED.consent OR EXCLUDED.consented_at > t.withdrawn_at",
    stamped=True,
)
_WRITE_PROMISES = _upsert(
    "promises",
    [
        ("promise_id", "text"),
        ("account_id", "text"),
        ("amount", "numeric"),
        ("paid_amount", "numeric"),
        ("currency", "text"),
        ("due_on", "date"),
        ("made_on", "date"),
        ("deadline", "timestamptz"),
        ("status", "text"),
        ("resolved_at", "timestamptz"),
    ],
    "tenant_id, promise_id",
    _excluded("paid_amount", "status", "resolved_at"),
)
_WRITE_PAYMENTS = _upsert(
    "payments",
    [
        ("payment_id", "text"),
        ("account_id", "text"),
        ("currency", "text"),
        ("amount", "numeric"),
        ("unapplied", "numeric"),
        ("paid_on", "date"),
        ("arrived_at", "timestamptz"),
        ("reversed_at", "timestamptz"),
    ],
    "tenant_id, payment_id",
    _excluded("unapplied", "reversed_at"),
)
_DROP_CONTRIBUTIONS = text(
    """
    DELETE FROM strategy.promise_payments
    WHERE tenant_id = :tenant AND payment_id = ANY(CAST(:ids AS text[]))
    """
)
_WRITE_CONTRIBUTIONS = _upsert(
    "promise_payments",
    [("promise_id", "text"), ("payment_id", "text"), ("amount", "numeric")],
    "tenant_id, promise_id, payment_id",
    "amount = t.amount + EXCLUDED.amount",
)
_WRITE_CONTACTS = _upsert(
    "contacts",
    [
        ("contact_id", "text"),
        ("account_id", "text"),
        ("currency", "text"),
        ("channel", "text"),
        ("kind", "text"),
        ("playbook", "text"),
        ("step", "text"),
        ("template", "text"),
        ("language", "text"),
        ("planned_for", "timestamptz"),
        ("status", "text"),
        ("reason", "text"),
        ("scheduled_for", "timestamptz"),
        ("strategy_version", "integer"),
    ],
    "tenant_id, contact_id",
    _excluded(
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
        "strategy_version",
    )
    + " WHERE t.status IN ('planned', 'cancelled')",
)
_WRITE_PAUSES = _upsert(
    "pauses",
    [
        ("pause_id", "text"),
        ("account_id", "text"),
        ("reason", "text"),
        ("until", "date"),
        ("ends_at", "timestamptz"),
        ("note", "text"),
        ("agent_id", "text"),
        ("started_at", "timestamptz"),
        ("ended_at", "timestamptz"),
        ("ended_by", "text"),
        ("resumed_by", "text"),
    ],
    "tenant_id, pause_id",
    _excluded("ended_at", "ended_by", "resumed_by"),
)
_WRITE_PLANS = _upsert(
    "plan_treatments",
    [
        ("account_id", "text"),
        ("currency", "text"),
        ("plan_id", "text"),
        ("status", "text"),
        ("since", "timestamptz"),
    ],
    "tenant_id, account_id, currency",
    _excluded("plan_id", "status", "since"),
)


def _write(session: Session, statement: Any, rows: Sequence[Sequence[Any]], **params: Any) -> None:
    if rows:
        session.execute(statement, {"rows": json.dumps(rows, default=_json, separators=(",", ":")), **params})


def save(session: Session, tenant: str, book: Book) -> None:
    """Write back what the batch changed, one statement per table, rows in key order."""
    now = {"tenant": tenant, "now": book.now}
    _write(
        session,
        _WRITE_ACCOUNTS,
        [
            (a.account_id, a.customer_id, a.timezone, a.country, a.segment)
            for a in (book.accounts[k] for k in sorted(book.touched_accounts))
        ],
        **now,
    )
    _write(
        session,
        _WRITE_BUCKETS,
        [
            (b.account_id, b.currency, b.bucket, b.stage, b.cured, b.entered_at)
            for b in (book.buckets[k] for k in sorted(book.changed_buckets))
        ],
        **now,
    )
    _write(
        session,
        _WRITE_CONSENTS,
        [(a, ch, ok, book.consented_at.get((a, ch))) for (a, ch), ok in sorted(book.consents.items())],
        **now,
    )
    _write(
        session,
        _WRITE_PROMISES,
        [
            (
                p.promise_id,
                p.account_id,
                p.amount,
                p.paid_amount,
                p.currency,
                p.due_on,
                p.made_on,
                p.deadline,
                p.status,
                p.resolved_at,
            )
            for p in (book.promises[k] for k in sorted(book.changed_promises))
        ],
        tenant=tenant,
    )
    _write(
        session,
        _WRITE_PAYMENTS,
        [
            (
                x.payment_id,
                x.account_id,
                x.currency,
                x.amount,
                x.unapplied,
                x.paid_on,
                x.arrived_at,
                x.reversed_at,
            )
            for x in (book.payments[k] for k in sorted(book.changed_payments))
        ],
        tenant=tenant,
    )
    if book.dropped_payments:
        session.execute(_DROP_CONTRIBUTIONS, {"tenant": tenant, "ids": sorted(book.dropped_payments)})
    _write(
        session,
        _WRITE_CONTRIBUTIONS,
        [(p, x, amount) for (p, x), amount in sorted(book.contributions.items())],
        tenant=tenant,
    )
    _write(
        session,
        _WRITE_CONTACTS,
        [
            (
                c.contact_id,
                c.account_id,
                c.currency,
                c.channel,
                c.kind,
                c.playbook,
                c.step,
                c.template,
                c.language,
                c.planned_for,
                c.status,
                c.reason,
                c.scheduled_for,
                c.strategy_version,
            )
            for c in (book.contacts[k] for k in sorted(book.changed_contacts))
        ],
        tenant=tenant,
    )
    _write(
        session,
        _WRITE_PAUSES,
        [
            (
                p.pause_id,
                p.account_id,
                p.reason,
                p.until,
                p.ends_at,
                p.note,
                p.agent_id,
                p.started_at,
                p.ended_at,
                p.ended_by,
                p.resumed_by,
            )
            for p in (book.pauses[k] for k in sorted(book.changed_pauses))
        ],
        tenant=tenant,
    )
    _write(
        session,
        _WRITE_PLANS,
        [
            (t.account_id, t.currency, t.plan_id, t.status, t.since)
            for t in (book.plans[k] for k in sorted(book.changed_plans))
        ],
        tenant=tenant,
    )


# --- versioned strategies ------------------------------------------------------------------------

_SEED_VERSIONS = text(
    """
    INSERT INTO strategy.strategy_versions AS v
        (tenant_id, name, version, document, created_at, created_by, active)
    SELECT :tenant, r->>0, 1, r->1, :now, 'config', true
    FROM json_array_elements(CAST(:rows AS json)) AS r
    ON CONFLICT (tenant_id, name, version) DO NOTHING
    """
)
_ACTIVE_VERSIONS = text(
    """
    SELECT name, version, document FROM strategy.strategy_versions
    WHERE tenant_id = :tenant AND active ORDER BY name
    """
)


def active_strategies(
    session: Session, tenant: str, config: StrategyConfig, now: datetime
) -> ActiveStrategies:
    """The tenant's active playbook versions; the packaged ones become version 1 the first time.

    Two statements whatever the batch: the seed is ``ON CONFLICT DO NOTHING`` on version 1, so a
    playbook the tenant already has keeps its history and two replicas seeding at once agree.
    """
    seed = [[name, playbook_document(book)] for name, book in sorted(config.playbooks.items())]
    session.execute(
        _SEED_VERSIONS, {"tenant": tenant, "now": now, "rows": json.dumps(seed, separators=(",", ":"))}
    )
    playbooks = {}
    versions = {}
    for r in session.execute(_ACTIVE_VERSIONS, {"tenant": tenant}):
        playbooks[r.name] = parse_playbook(r.name, r.document)
        versions[r.name] = r.version
    return ActiveStrategies(playbooks, versions)


# --- pauses, for the firing side ------------------------------------------------------------------

_PAUSED = text(
    """
    SELECT DISTINCT account_id FROM strategy.pauses
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS text[])) AND ended_at IS NULL
      AND (ends_at IS NULL OR ends_at > :now)
    """
)


def paused_accounts(session: Session, tenant: str, account_ids: Sequence[str], now: datetime) -> set[str]:
    """Which of the accounts a pause holds at ``now`` (``treatment.is_paused`` in one query).

    Pausing cancels planned contacts, so a due timer normally never meets a paused account; a
    firing path reads this to hold one that raced the pause.
    """
    if not account_ids:
        return set()
    rows = session.execute(_PAUSED, {"tenant": tenant, "ids": sorted(set(account_ids)), "now": now})
    return {r.account_id for r in rows}


_PAUSE_OWNERS = text(
    """
    SELECT pause_id, account_id FROM strategy.pauses
    WHERE tenant_id = :tenant AND pause_id = ANY(CAST(:ids AS text[]))
    """
)


def pause_owners(session: Session, tenant: str, pause_ids: Sequence[str]) -> dict[str, str]:
    """pause id -> its account, for the pauses a batch of timers names (unknown ones left out)."""
    rows = session.execute(_PAUSE_OWNERS, {"tenant": tenant, "ids": sorted(set(pause_ids))})
    return {r.pause_id: r.account_id for r in rows}
