"""Set-based reads and writes of strategy's tables for one batch of one tenant.

``load`` locks the batch's accounts first, in account order (an upsert that creates the missing
ones), so two replicas never settle or plan the same account at once and never deadlock; then it
reads, one query per table, every row the batch's events can reach, the rows it will change
locked in key order. ``save`` writes back what the book changed: one statement per table
(the rows as one JSON array the server reads, so the statement is the same whatever the batch size).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

from sqlalchemy import Numeric, String, Table, TextClause, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from libs.runtime.pg_arrays import text_array
from services.strategy.adapters import orm
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


# The accounts a batch touches, locked in account order: the stored ones by a SELECT … FOR UPDATE
# (no new row version, unlike an upsert that "updates" them), then the missing ones inserted in
# account order (``_CREATE_ACCOUNTS``); one a concurrent batch created meanwhile is locked after.
# Every other writer of the account's rows (timers, contact events) takes the same locks first, so
# the reads after it need no row locks of their own: each statement's snapshot, taken once the
# locks are held, sees what the previous holder committed.
_LOCK_ACCOUNTS = text(
    """
    SELECT account_id, customer_id, timezone, country, segment FROM strategy.accounts
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS text[]))
    ORDER BY account_id FOR UPDATE
    """
)
_CREATE_ACCOUNTS = text(
    """
    INSERT INTO strategy.accounts AS a (tenant_id, account_id, updated_at)
    SELECT :tenant, id, :now FROM unnest(CAST(:ids AS text[])) AS id ORDER BY id
    ON CONFLICT (tenant_id, account_id) DO NOTHING
    RETURNING a.account_id
    """
)
# Every read is ``key = ANY(array)`` on an index's leading columns (one probe per key); the
# "by account, or by id" reads are a UNION of the two probes (an OR would filter a whole scan).
_BUCKETS = text(
    """
    SELECT account_id, currency, bucket, stage, cured, entered_at
    FROM strategy.account_buckets
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS text[]))
    """
)
_CONTRIBUTIONS = text(
    """
    SELECT promise_id, payment_id, amount FROM strategy.promise_payments
    WHERE tenant_id = :tenant AND payment_id = ANY(CAST(:ids AS text[]))
    ORDER BY promise_id, payment_id
    """
)
_PROMISES = text(
    """
    SELECT promise_id, account_id, amount, paid_amount, currency, due_on, made_on, deadline, status,
           resolved_at
    FROM strategy.promises
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:accounts AS text[]))
      AND status IN ('open', 'broken')
    UNION
    SELECT promise_id, account_id, amount, paid_amount, currency, due_on, made_on, deadline, status,
           resolved_at
    FROM strategy.promises
    WHERE tenant_id = :tenant AND promise_id = ANY(CAST(:ids AS text[]))
    ORDER BY promise_id
    """
)
_PAYMENTS = text(
    """
    SELECT payment_id, account_id, currency, amount, unapplied, paid_on, arrived_at, reversed_at
    FROM strategy.payments
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:accounts AS text[]))
      AND unapplied > 0 AND reversed_at IS NULL
    UNION
    SELECT payment_id, account_id, currency, amount, unapplied, paid_on, arrived_at, reversed_at
    FROM strategy.payments
    WHERE tenant_id = :tenant AND payment_id = ANY(CAST(:ids AS text[]))
    ORDER BY payment_id
    """
)
# the contacts a replan can reach (planned, or planned since ``since``), and every dunning step
# sent (``due``): the book counts those of the episode current when a rule asks (``Book._sent``;
# in SQL, a join with the buckets let the planner, with a fresh table's statistics, loop over
# every contact of the tenant, and a batch may start a new episode)
_CONTACTS = text(
    """
    SELECT contact_id, account_id, currency, channel, kind, playbook, step, template, language,
           planned_for, status, reason, scheduled_for, strategy_version
    FROM strategy.contacts
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS text[]))
      AND (status = 'planned' OR planned_for >= :since OR (kind = 'dunning' AND status = 'due'))
    ORDER BY contact_id
    """
)

_PAUSES = text(
    """
    SELECT pause_id, account_id, reason, until, ends_at, note, agent_id, started_at, ended_at,
           ended_by, resumed_by
    FROM strategy.pauses
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:accounts AS text[])) AND ended_at IS NULL
    UNION
    SELECT pause_id, account_id, reason, until, ends_at, note, agent_id, started_at, ended_at,
           ended_by, resumed_by
    FROM strategy.pauses
    WHERE tenant_id = :tenant AND pause_id = ANY(CAST(:ids AS text[]))
    ORDER BY pause_id
    """
)
_PLANS = text(
    """
    SELECT account_id, currency, plan_id, status, since FROM strategy.plan_treatments
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:accounts AS text[]))
    ORDER BY account_id, currency
    """
)


def _rows(session: Session, statement: TextClause, **params: Any) -> Sequence[Any]:
    """All the rows at once (one fetch, not a round of result bookkeeping per row)."""
    return session.execute(statement, params).all()


def load(session: Session, tenant: str, scope: Scope, config: StrategyConfig, now: datetime) -> Book:
    """The book of the batch's accounts, their rows locked (accounts first, in account order)."""
    accounts = sorted(scope.accounts)
    planning = sorted(scope.planning)
    every = text_array(accounts)
    reached = every if planning == accounts else text_array(planning)
    # the same statements run with 1 or 5,000 keys: every service connection plans each for its
    # keys, never a generic plan (``libs.runtime.db.CUSTOM_PLANS``)
    found = {r[0]: Account(*r) for r in _rows(session, _LOCK_ACCOUNTS, tenant=tenant, ids=every)}
    missing = [a for a in accounts if a not in found]
    if missing:
        created = {r[0] for r in _rows(session, _CREATE_ACCOUNTS, tenant=tenant, now=now, ids=missing)}
        found.update((a, Account(a)) for a in created)
        raced = [a for a in missing if a not in created]  # a concurrent batch created them first
        if raced:
            found.update(
                (r[0], Account(*r)) for r in _rows(session, _LOCK_ACCOUNTS, tenant=tenant, ids=raced)
            )
    buckets: dict[tuple[str, str], Bucket] = {}
    contacts: dict[str, Contact] = {}
    sent: dict[tuple[str, str], list[tuple[str, str, datetime]]] = {}
    if planning:
        for r in _rows(session, _BUCKETS, tenant=tenant, ids=reached):
            buckets[(r[0], r[1])] = Bucket(*r)
        since = scope.contacts_since
        for r in _rows(session, _CONTACTS, tenant=tenant, ids=reached, since=since):
            # (contact_id, account_id, currency, …, playbook 5, step 6, …, planned_for 9, status 10)
            if r[10] == "planned" or r[9] >= since:
                contacts[r[0]] = Contact(*r)
            if r[10] == "due" and r[4] == "dunning":
                sent.setdefault((r[1], r[2]), []).append((r[5], r[6], r[9]))
    pauses = {
        r[0]: Pause(*r)
        for r in _rows(session, _PAUSES, tenant=tenant, accounts=every, ids=sorted(scope.pause_ids))
    }
    plans = {(r[0], r[1]): PlanTreatment(*r) for r in _rows(session, _PLANS, tenant=tenant, accounts=every)}
    stored: dict[tuple[str, str], Decimal] = {}
    if scope.reversed_ids:
        for r in _rows(session, _CONTRIBUTIONS, tenant=tenant, ids=sorted(scope.reversed_ids)):
            stored[(r[0], r[1])] = r[2]
    promise_ids = sorted({*scope.promise_ids, *(promise_id for promise_id, _ in stored)})
    promises = {
        r[0]: Promise(*r) for r in _rows(session, _PROMISES, tenant=tenant, accounts=every, ids=promise_ids)
    }
    payment_ids = sorted(scope.payment_ids)
    payments = {
        r[0]: Payment(*r) for r in _rows(session, _PAYMENTS, tenant=tenant, accounts=every, ids=payment_ids)
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


_PG = postgresql.dialect()


@dataclass(frozen=True)
class _Upsert:
    """An ``INSERT … SELECT`` of one table's rows sent as one JSON array of arrays (one parameter,
    parsed by the server): one cached statement whatever the batch size, the rows costing one
    ``json.dumps`` in C rather than one adapter call per value."""

    statement: TextClause
    columns: tuple[str, ...]
    """the row's values, in this order: the book's objects carry them under the same names"""

    def of(self, items: Iterable[Any]) -> list[Any]:
        values = attrgetter(*self.columns)
        return [values(item) for item in items]


def _cast(kind: Any) -> str:
    """What a JSON text is cast to: ``text`` and ``numeric`` unbounded (the column's own
    length and scale then apply, as to any value written to it), other types as declared."""
    if isinstance(kind, String):
        return "text"
    if isinstance(kind, Numeric):
        return "numeric"
    return str(kind.compile(dialect=_PG))


def _upsert(table: Table, update: Sequence[str], *, then: str = "", omit: Sequence[str] = ()) -> _Upsert:
    """The upsert of ``table``'s columns (the tenant, ``updated_at`` and ``omit`` aside): on its
    primary key, ``update`` set from the new row, then ``then`` (more assignments, a WHERE).

    ``updated_at`` is the batch's ``:now`` and is set again on a conflict, when the table has one.
    """
    stamped = "updated_at" in table.c
    columns = tuple(c.name for c in table.c if c.name not in ("tenant_id", "updated_at", *omit))
    kinds = {c.name: _cast(c.type) for c in table.c}
    values = ", ".join(f"CAST(r->>{i} AS {kinds[name]})" for i, name in enumerate(columns))
    names = ", ".join(columns)
    conflict = ", ".join(c.name for c in table.primary_key.columns)
    sets = ", ".join(f"{name} = EXCLUDED.{name}" for name in (*update, *(["updated_at"] if stamped else [])))
    stamp = (", updated_at", ", :now") if stamped else ("", "")
    statement = text(
        f"INSERT INTO strategy.{table.name} AS t (tenant_id, {names}{stamp[0]}) "
        f"SELECT :tenant, {values}{stamp[1]} FROM json_array_elements(CAST(:rows AS json)) AS r "
        f"ON CONFLICT ({conflict}) DO UPDATE SET {sets}{then}"
    )
    return _Upsert(statement, columns)


_WRITE_ACCOUNTS = _upsert(
    orm.accounts,
    ("customer_id", "timezone", "country", "segment"),
    # an account the batch only locked or read is not written again (no new row version)
    then=" WHERE (t.customer_id, t.timezone, t.country, t.segment) IS DISTINCT FROM"
    " (EXCLUDED.customer_id, EXCLUDED.timezone, EXCLUDED.country, EXCLUDED.segment)",
)
_WRITE_BUCKETS = _upsert(orm.account_buckets, ("bucket", "stage", "cured", "entered_at"))
_WRITE_CONSENTS = _upsert(
    orm.consents,
    ("consent", "consented_at"),
    then=", withdrawn_at = CASE WHEN EXCLUDED.consent THEN NULL ELSE t.withdrawn_at END"
    # an opt-out stands until a consent given after it: a re-sent old record does not undo it
    " WHERE t.withdrawn_at IS NULL OR NOT EXCLUDED.consent OR EXCLUDED.consented_at > t.withdrawn_at",
    omit=("withdrawn_at",),
)
_WRITE_PROMISES = _upsert(orm.promises, ("paid_amount", "status", "resolved_at"))
_WRITE_PAYMENTS = _upsert(orm.payments, ("unapplied", "reversed_at"))
_DROP_CONTRIBUTIONS = text(
    """
    DELETE FROM strategy.promise_payments
    WHERE tenant_id = :tenant AND payment_id = ANY(CAST(:ids AS text[]))
    """
)
_WRITE_CONTRIBUTIONS = _upsert(orm.promise_payments, (), then="amount = t.amount + EXCLUDED.amount")
# a contact already done (due, skipped) keeps its row; its first scheduled moment is never replanned;
# one a batch cancelled and planned again as it was (a replan of the same step) gets no new version
_CONTACT_UPDATES = tuple(
    c.name for c in orm.contacts.c if c.name not in ("tenant_id", "contact_id", "scheduled_for")
)
_WRITE_CONTACTS = _upsert(
    orm.contacts,
    _CONTACT_UPDATES,
    then=" WHERE t.status IN ('planned', 'cancelled') AND ("
    + ", ".join(f"t.{c}" for c in _CONTACT_UPDATES)
    + ") IS DISTINCT FROM ("
    + ", ".join(f"EXCLUDED.{c}" for c in _CONTACT_UPDATES)
    + ")",
)
_WRITE_PAUSES = _upsert(orm.pauses, ("ended_at", "ended_by", "resumed_by"))
_WRITE_PLANS = _upsert(orm.plan_treatments, ("plan_id", "status", "since"))


def _write(session: Session, upsert: _Upsert, rows: Sequence[Sequence[Any]], **params: Any) -> None:
    if rows:
        session.execute(
            upsert.statement, {"rows": json.dumps(rows, default=_json, separators=(",", ":")), **params}
        )


def save(session: Session, tenant: str, book: Book) -> None:
    """Write back what the batch changed, one statement per table, rows in key order."""
    now = {"tenant": tenant, "now": book.now}
    accounts = (book.accounts[k] for k in sorted(book.touched_accounts))
    _write(session, _WRITE_ACCOUNTS, _WRITE_ACCOUNTS.of(accounts), **now)
    buckets = (book.buckets[k] for k in sorted(book.changed_buckets))
    _write(session, _WRITE_BUCKETS, _WRITE_BUCKETS.of(buckets), **now)
    consents = [(a, ch, ok, book.consented_at.get((a, ch))) for (a, ch), ok in sorted(book.consents.items())]
    _write(session, _WRITE_CONSENTS, consents, **now)
    promises = (book.promises[k] for k in sorted(book.changed_promises))
    _write(session, _WRITE_PROMISES, _WRITE_PROMISES.of(promises), tenant=tenant)
    payments = (book.payments[k] for k in sorted(book.changed_payments))
    _write(session, _WRITE_PAYMENTS, _WRITE_PAYMENTS.of(payments), tenant=tenant)
    if book.dropped_payments:
        session.execute(_DROP_CONTRIBUTIONS, {"tenant": tenant, "ids": sorted(book.dropped_payments)})
    contributions = [(p, x, amount) for (p, x), amount in sorted(book.contributions.items())]
    _write(session, _WRITE_CONTRIBUTIONS, contributions, tenant=tenant)
    contacts = (book.contacts[k] for k in sorted(book.changed_contacts))
    _write(session, _WRITE_CONTACTS, _WRITE_CONTACTS.of(contacts), tenant=tenant)
    pauses = (book.pauses[k] for k in sorted(book.changed_pauses))
    _write(session, _WRITE_PAUSES, _WRITE_PAUSES.of(pauses), tenant=tenant)
    plans = (book.plans[k] for k in sorted(book.changed_plans))
    _write(session, _WRITE_PLANS, _WRITE_PLANS.of(plans), tenant=tenant)


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


# --- consents and contact history (the contact policy's inputs) ---------------------------------

_CONSENTS = text(
    """
    SELECT account_id, channel, consent FROM strategy.consents
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS text[]))
    """
)
_HISTORY = text(
    """
    SELECT account_id, direct_at, direct_channel, conversation_at FROM strategy.contact_history
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS text[]))
    """
)
_WITHDRAW = text(
    """
    INSERT INTO strategy.consents AS c (tenant_id, account_id, channel, consent, withdrawn_at, updated_at)
    SELECT :tenant, v.account_id, v.channel, false, v.at, v.at
    FROM unnest(CAST(:accounts AS text[]), CAST(:channels AS text[]), CAST(:ats AS timestamptz[]))
         AS v(account_id, channel, at)
    ON CONFLICT (tenant_id, account_id, channel) DO UPDATE SET consent = false,
        withdrawn_at = GREATEST(c.withdrawn_at, EXCLUDED.withdrawn_at),
        updated_at = GREATEST(c.updated_at, EXCLUDED.updated_at)
    """
)
_OUTCOMES = text(
    """
    INSERT INTO strategy.contact_history AS h
        (tenant_id, account_id, direct_at, direct_channel, conversation_at, updated_at)
    SELECT :tenant, v.account_id, v.direct_at, v.direct_channel, v.conversation_at, :now
    FROM unnest(CAST(:accounts AS text[]), CAST(:direct_at AS timestamptz[]),
                CAST(:direct_channel AS text[]), CAST(:conversation_at AS timestamptz[]))
         AS v(account_id, direct_at, direct_channel, conversation_at)
    ON CONFLICT (tenant_id, account_id) DO UPDATE SET
        direct_channel = CASE WHEN EXCLUDED.direct_at > h.direct_at OR h.direct_at IS NULL
                              THEN COALESCE(EXCLUDED.direct_channel, h.direct_channel) ELSE h.direct_channel END,
        direct_at = GREATEST(h.direct_at, EXCLUDED.direct_at),
        conversation_at = GREATEST(h.conversation_at, EXCLUDED.conversation_at),
        updated_at = EXCLUDED.updated_at
    """
)


def consents_of(session: Session, tenant: str, ids: Sequence[str]) -> dict[tuple[str, str], bool]:
    rows = session.execute(_CONSENTS, {"tenant": tenant, "ids": sorted(set(ids))})
    return {(r.account_id, r.channel): r.consent for r in rows}


def history_of(session: Session, tenant: str, ids: Sequence[str]) -> dict[str, Row[Any]]:
    return {r.account_id: r for r in session.execute(_HISTORY, {"tenant": tenant, "ids": sorted(set(ids))})}


def withdraw_consents(session: Session, tenant: str, items: Sequence[tuple[str, str, datetime]]) -> None:
    """(account, channel, when) consents withdrawn, one upsert (the latest per pair)."""
    latest: dict[tuple[str, str], datetime] = {}
    for account, channel, at in items:
        latest[(account, channel)] = max(at, latest.get((account, channel), at))
    if latest:
        keys = sorted(latest)
        session.execute(
            _WITHDRAW,
            {
                "tenant": tenant,
                "accounts": [a for a, _ in keys],
                "channels": [c for _, c in keys],
                "ats": [latest[k] for k in keys],
            },
        )


def record_outcomes(
    session: Session,
    tenant: str,
    rows: Mapping[str, tuple[datetime | None, str | None, datetime | None]],
    now: datetime,
) -> None:
    """account -> (direct_at, direct_channel, conversation_at), merged with the stored latest, one upsert."""
    if rows:
        keys = sorted(rows)
        session.execute(
            _OUTCOMES,
            {
                "tenant": tenant,
                "now": now,
                "accounts": keys,
                "direct_at": [rows[k][0] for k in keys],
                "direct_channel": [rows[k][1] for k in keys],
                "conversation_at": [rows[k][2] for k in keys],
            },
        )
