"""Set-based reads and writes of strategy's tables for one batch of one tenant.

``load`` locks the batch's accounts first, in account order (an upsert that creates the missing
ones), so two replicas never settle or plan the same account at once and never deadlock; then it
reads, one query per table, every row the batch's events can reach, the rows it will change
locked in key order. ``save`` writes back what the book changed: one statement per table
(``unnest`` of typed arrays, so the statement is the same whatever the batch size).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.strategy.domain.book import (
    Account,
    Book,
    Bucket,
    Contact,
    Payment,
    Promise,
)
from services.strategy.domain.playbooks import StrategyConfig


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


_LOCK_ACCOUNTS = text(
    """
    INSERT INTO strategy.accounts AS a (tenant_id, account_id, updated_at)
    SELECT :tenant, id, :now FROM unnest(CAST(:ids AS text[])) AS id ORDER BY id
    ON CONFLICT (tenant_id, account_id) DO UPDATE SET updated_at = a.updated_at
    RETURNING a.account_id, a.customer_id, a.timezone, a.country, a.segment
    """
)
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
    WHERE tenant_id = :tenant
      AND ((account_id = ANY(CAST(:accounts AS text[])) AND status IN ('open', 'broken'))
           OR promise_id = ANY(CAST(:ids AS text[])))
    ORDER BY promise_id FOR UPDATE
    """
)
_PAYMENTS = text(
    """
    SELECT payment_id, account_id, currency, amount, unapplied, paid_on, arrived_at, reversed_at
    FROM strategy.payments
    WHERE tenant_id = :tenant
      AND (payment_id = ANY(CAST(:ids AS text[]))
           OR (account_id = ANY(CAST(:accounts AS text[])) AND unapplied > 0 AND reversed_at IS NULL))
    ORDER BY payment_id FOR UPDATE
    """
)
_CONTACTS = text(
    """
    SELECT contact_id, account_id, currency, channel, kind, playbook, step, template, language,
           planned_for, status, reason, scheduled_for
    FROM strategy.contacts
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS text[]))
      AND (status = 'planned' OR planned_for >= :since)
    ORDER BY contact_id FOR UPDATE
    """
)


def load(session: Session, tenant: str, scope: Scope, config: StrategyConfig, now: datetime) -> Book:
    """The book of the batch's accounts, their rows locked (accounts first, in account order)."""
    accounts = sorted(scope.accounts)
    planning = sorted(scope.planning)
    rows = session.execute(_LOCK_ACCOUNTS, {"tenant": tenant, "now": now, "ids": accounts})
    found = {
        r.account_id: Account(r.account_id, r.customer_id, r.timezone, r.country, r.segment) for r in rows
    }
    buckets: dict[tuple[str, str], Bucket] = {}
    contacts: dict[str, Contact] = {}
    if planning:
        for r in session.execute(_BUCKETS, {"tenant": tenant, "ids": planning}):
            buckets[(r.account_id, r.currency)] = Bucket(*r)
        since = {"tenant": tenant, "ids": planning, "since": scope.contacts_since}
        contacts = {r.contact_id: Contact(*r) for r in session.execute(_CONTACTS, since)}
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
        stored_contributions=stored,
    )


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows to one list per column: what ``unnest`` of typed arrays takes."""
    return [[row[i] for row in rows] for i in range(width)] if rows else [[] for _ in range(width)]


_WRITE_ACCOUNTS = text(
    """
    INSERT INTO strategy.accounts AS a
        (tenant_id, account_id, customer_id, timezone, country, segment, updated_at)
    SELECT :tenant, v.*, :now
    FROM unnest(CAST(:account_id AS text[]), CAST(:customer_id AS text[]), CAST(:timezone AS text[]),
                CAST(:country AS text[]), CAST(:segment AS text[])) AS v
    ON CONFLICT (tenant_id, account_id) DO UPDATE
    SET customer_id = EXCLUDED.customer_id, timezone = EXCLUDED.timezone, country = EXCLUDED.country,
        segment = EXCLUDED.segment, updated_at = EXCLUDED.updated_at
    """
)
_WRITE_BUCKETS = text(
    """
    INSERT INTO strategy.account_buckets AS b
        (tenant_id, account_id, currency, bucket, stage, cured, entered_at, updated_at)
    SELECT :tenant, v.*, :now
    FROM unnest(CAST(:account_id AS text[]), CAST(:currency AS text[]), CAST(:bucket AS text[]),
                CAST(:stage AS text[]), CAST(:cured AS boolean[]), CAST(:entered_at AS timestamptz[])) AS v
    ON CONFLICT (tenant_id, account_id, currency) DO UPDATE
    SET bucket = EXCLUDED.bucket, stage = EXCLUDED.stage, cured = EXCLUDED.cured,
        entered_at = EXCLUDED.entered_at, updated_at = EXCLUDED.updated_at
    """
)
_WRITE_CONSENTS = text(
    """
    INSERT INTO strategy.consents AS c (tenant_id, account_id, channel, consent, updated_at)
    SELECT :tenant, v.*, :now
    FROM unnest(CAST(:account_id AS text[]), CAST(:channel AS text[]), CAST(:consent AS boolean[])) AS v
    ON CONFLICT (tenant_id, account_id, channel) DO UPDATE
    SET consent = EXCLUDED.consent, updated_at = EXCLUDED.updated_at
    """
)
_WRITE_PROMISES = text(
    """
    INSERT INTO strategy.promises AS p
        (tenant_id, promise_id, account_id, amount, paid_amount, currency, due_on, made_on, deadline,
         status, resolved_at)
    SELECT :tenant, v.*
    FROM unnest(CAST(:promise_id AS text[]), CAST(:account_id AS text[]), CAST(:amount AS numeric[]),
                CAST(:paid_amount AS numeric[]), CAST(:currency AS text[]), CAST(:due_on AS date[]),
                CAST(:made_on AS date[]), CAST(:deadline AS timestamptz[]), CAST(:status AS text[]),
                CAST(:resolved_at AS timestamptz[])) AS v
    ON CONFLICT (tenant_id, promise_id) DO UPDATE
    SET paid_amount = EXCLUDED.paid_amount, status = EXCLUDED.status, resolved_at = EXCLUDED.resolved_at
    """
)
_WRITE_PAYMENTS = text(
    """
    INSERT INTO strategy.payments AS x
        (tenant_id, payment_id, account_id, currency, amount, unapplied, paid_on, arrived_at, reversed_at)
    SELECT :tenant, v.*
    FROM unnest(CAST(:payment_id AS text[]), CAST(:account_id AS text[]), CAST(:currency AS text[]),
                CAST(:amount AS numeric[]), CAST(:unapplied AS numeric[]), CAST(:paid_on AS date[]),
                CAST(:arrived_at AS timestamptz[]), CAST(:reversed_at AS timestamptz[])) AS v
    ON CONFLICT (tenant_id, payment_id) DO UPDATE
    SET unapplied = EXCLUDED.unapplied, reversed_at = EXCLUDED.reversed_at
    """
)
_DROP_CONTRIBUTIONS = text(
    """
    DELETE FROM strategy.promise_payments
    WHERE tenant_id = :tenant AND payment_id = ANY(CAST(:ids AS text[]))
    """
)
_WRITE_CONTRIBUTIONS = text(
    """
    INSERT INTO strategy.promise_payments AS pp (tenant_id, promise_id, payment_id, amount)
    SELECT :tenant, v.*
    FROM unnest(CAST(:promise_id AS text[]), CAST(:payment_id AS text[]), CAST(:amount AS numeric[])) AS v
    ON CONFLICT (tenant_id, promise_id, payment_id) DO UPDATE SET amount = pp.amount + EXCLUDED.amount
    """
)
_WRITE_CONTACTS = text(
    """
    INSERT INTO strategy.contacts AS c
        (tenant_id, contact_id, account_id, currency, channel, kind, playbook, step, template, language,
         planned_for, status, reason, scheduled_for)
    SELECT :tenant, v.*
    FROM unnest(CAST(:contact_id AS text[]), CAST(:account_id AS text[]), CAST(:currency AS text[]),
                CAST(:channel AS text[]), CAST(:kind AS text[]), CAST(:playbook AS text[]),
                CAST(:step AS text[]), CAST(:template AS text[]), CAST(:language AS text[]),
                CAST(:planned_for AS timestamptz[]), CAST(:status AS text[]), CAST(:reason AS text[]),
                CAST(:scheduled_for AS timestamptz[])) AS v
    ON CONFLICT (tenant_id, contact_id) DO UPDATE
    SET account_id = EXCLUDED.account_id, currency = EXCLUDED.currency, channel = EXCLUDED.channel,
        kind = EXCLUDED.kind, playbook = EXCLUDED.playbook, step = EXCLUDED.step,
        template = EXCLUDED.template, language = EXCLUDED.language, planned_for = EXCLUDED.planned_for,
        status = EXCLUDED.status, reason = EXCLUDED.reason
    WHERE c.status IN ('planned', 'cancelled')
    """
)


def _write(
    session: Session, statement: Any, names: Sequence[str], rows: Sequence[Sequence[Any]], **extra: Any
) -> None:
    if rows:
        session.execute(statement, {**dict(zip(names, _columns(rows, len(names)), strict=True)), **extra})


def save(session: Session, tenant: str, book: Book) -> None:
    """Write back what the batch changed, one statement per table, rows in key order."""
    common = {"tenant": tenant}
    accounts = [book.accounts[a] for a in sorted(book.touched_accounts)]
    _write(
        session,
        _WRITE_ACCOUNTS,
        ("account_id", "customer_id", "timezone", "country", "segment"),
        [(a.account_id, a.customer_id, a.timezone, a.country, a.segment) for a in accounts],
        now=book.now,
        **common,
    )
    buckets = [book.buckets[k] for k in sorted(book.changed_buckets)]
    _write(
        session,
        _WRITE_BUCKETS,
        ("account_id", "currency", "bucket", "stage", "cured", "entered_at"),
        [(b.account_id, b.currency, b.bucket, b.stage, b.cured, b.entered_at) for b in buckets],
        now=book.now,
        **common,
    )
    _write(
        session,
        _WRITE_CONSENTS,
        ("account_id", "channel", "consent"),
        [(a, ch, ok) for (a, ch), ok in sorted(book.consents.items())],
        now=book.now,
        **common,
    )
    promises = [book.promises[p] for p in sorted(book.changed_promises)]
    _write(
        session,
        _WRITE_PROMISES,
        (
            "promise_id",
            "account_id",
            "amount",
            "paid_amount",
            "currency",
            "due_on",
            "made_on",
            "deadline",
            "status",
            "resolved_at",
        ),
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
            for p in promises
        ],
        **common,
    )
    payments = [book.payments[x] for x in sorted(book.changed_payments)]
    _write(
        session,
        _WRITE_PAYMENTS,
        (
            "payment_id",
            "account_id",
            "currency",
            "amount",
            "unapplied",
            "paid_on",
            "arrived_at",
            "reversed_at",
        ),
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
            for x in payments
        ],
        **common,
    )
    if book.dropped_payments:
        session.execute(_DROP_CONTRIBUTIONS, {"ids": sorted(book.dropped_payments), **common})
    _write(
        session,
        _WRITE_CONTRIBUTIONS,
        ("promise_id", "payment_id", "amount"),
        [(p, x, amount) for (p, x), amount in sorted(book.contributions.items())],
        **common,
    )
    contacts = [book.contacts[c] for c in sorted(book.changed_contacts)]
    _write(
        session,
        _WRITE_CONTACTS,
        (
            "contact_id",
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
            "scheduled_for",
        ),
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
            )
            for c in contacts
        ],
        **common,
    )
