"""The decision log (``strategy.decisions``): append-only, one INSERT per call.

Also what the timer handlers and the contact-event handlers read and write about contacts and
promises, set-based; consents and contact history are the repository's (``repository.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from services.strategy.adapters.orm import metadata
from services.strategy.domain.decisions import Decision

decisions = Table(
    "decisions",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("decision_id", BigInteger, Identity(always=False), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("currency", String(3)),
    Column("kind", String(16), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, doc="when the strategy decided"),
    Column("contact_id", String(128)),
    Column("channel", String(16)),
    Column("reason", Text, nullable=False),
    Column("detail", JSONB, nullable=False),
    Column("strategy", String(200)),
    Column("strategy_version", Integer),
    Column("actor", String(200), doc="the agent or credential, for human actions"),
    Column("cause_event_id", String(200), doc="the event the decision answered, when one did"),
    Index("ix_strategy_decisions_tenant_account_at", "tenant_id", "account_id", "at"),
)


def _plain(value: Any) -> Any:
    """What ``json.dumps`` cannot write itself: times and dates in ISO 8601, money as its digits."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to a decision's detail")


# one cached statement whatever the batch: the rows as one JSON array the server reads, in the
# order given (``WITH ORDINALITY``), so the identity numbers the decisions in the order taken
_RECORD = text(
    """
    INSERT INTO strategy.decisions (tenant_id, account_id, currency, kind, at, contact_id, channel,
        reason, detail, strategy, strategy_version, actor, cause_event_id)
    SELECT :tenant, r->>0, r->>1, r->>2, CAST(r->>3 AS timestamptz), r->>4, r->>5, r->>6,
           CAST(r->7 AS jsonb), r->>8, CAST(r->>9 AS integer), r->>10, r->>11
    FROM json_array_elements(CAST(:rows AS json)) WITH ORDINALITY AS d(r, n)
    ORDER BY n
    """
)


def record(
    session: Session,
    tenant: str,
    items: Sequence[Decision],
    cause: str | None = None,
    *,
    causes: Sequence[str | None] | None = None,
) -> None:
    """Append ``items`` in one INSERT (nothing when empty).

    ``cause`` is the event id every decision answered; a batch passes ``causes`` instead,
    one per decision, in the same order.
    """
    if not items:
        return
    if causes is None:
        causes = [cause] * len(items)
    elif len(causes) != len(items):
        raise ValueError("one cause per decision")
    rows = [
        (
            d.account_id,
            d.currency,
            d.kind,
            d.at.isoformat(),
            d.contact_id,
            d.channel,
            d.reason,
            d.detail,
            d.strategy,
            d.strategy_version,
            d.actor,
            event_id,
        )
        for d, event_id in zip(items, causes, strict=True)
    ]
    # the C encoder walks the details; only what JSON lacks comes back to ``_plain``
    text_rows = json.dumps(rows, separators=(",", ":"), default=_plain)
    session.execute(_RECORD, {"tenant": tenant, "rows": text_rows})


# --- what the timer handlers and the contact-event handlers read and write, set-based ------------

_OWNERS = text(
    """
    SELECT contact_id AS key, account_id FROM strategy.contacts
    WHERE tenant_id = :tenant AND contact_id = ANY(CAST(:keys AS text[]))
    """
)
_PROMISE_OWNERS = text(
    """
    SELECT promise_id AS key, account_id FROM strategy.promises
    WHERE tenant_id = :tenant AND promise_id = ANY(CAST(:keys AS text[]))
    """
)
# the consumers' order (repository.load): the accounts first, by id
_LOCK = text(
    """
    SELECT account_id, timezone, country, segment FROM strategy.accounts
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS text[]))
    ORDER BY account_id FOR UPDATE
    """
)
_PLANNED = text(
    """
    SELECT contact_id, account_id, currency, channel, kind, playbook, step, template, language,
           planned_for, status, reason, scheduled_for, strategy_version
    FROM strategy.contacts
    WHERE tenant_id = :tenant AND contact_id = ANY(CAST(:keys AS text[])) AND status = 'planned'
    ORDER BY contact_id FOR UPDATE
    """
)
_PLANNED_ON = text(
    """
    SELECT contact_id, account_id, channel FROM strategy.contacts
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS text[])) AND status = 'planned'
    ORDER BY contact_id FOR UPDATE
    """
)
_OPEN_PROMISES = text(
    """
    SELECT DISTINCT account_id, currency FROM strategy.promises
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS text[])) AND status = 'open'
    """
)
_SCHEDULED = text(
    """
    SELECT account_id, channel, scheduled_for FROM strategy.contacts
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS text[])) AND status = 'due'
      AND scheduled_for >= :since
    """
)
_SET_CONTACTS = text(
    """
    UPDATE strategy.contacts AS c SET status = v.status, scheduled_for = COALESCE(v.at, c.scheduled_for),
           reason = v.reason
    FROM unnest(CAST(:ids AS text[]), CAST(:statuses AS text[]), CAST(:ats AS timestamptz[]),
                CAST(:reasons AS text[])) AS v(id, status, at, reason)
    WHERE c.tenant_id = :tenant AND c.contact_id = v.id
    """
)
_OPEN_DUE = text(
    """
    SELECT promise_id, account_id, amount, paid_amount, currency, due_on, status FROM strategy.promises
    WHERE tenant_id = :tenant AND promise_id = ANY(CAST(:keys AS text[])) AND status = 'open'
    ORDER BY promise_id FOR UPDATE
    """
)
_SET_PROMISES = text(
    """
    UPDATE strategy.promises AS p SET status = v.status, resolved_at = :now
    FROM unnest(CAST(:ids AS text[]), CAST(:statuses AS text[])) AS v(id, status)
    WHERE p.tenant_id = :tenant AND p.promise_id = v.id
    """
)


def owners(session: Session, tenant: str, keys: Sequence[str], *, of: str) -> dict[str, str]:
    """Timer key -> account, read without a lock (``of``: ``contacts`` or ``promises``)."""
    statement = _OWNERS if of == "contacts" else _PROMISE_OWNERS
    return {r.key: r.account_id for r in session.execute(statement, {"tenant": tenant, "keys": sorted(keys)})}


def lock_accounts(session: Session, tenant: str, ids: Sequence[str]) -> dict[str, Row[Any]]:
    """Lock the accounts in account order, as the consumers do, and return their facts."""
    return {r.account_id: r for r in session.execute(_LOCK, {"tenant": tenant, "ids": sorted(set(ids))})}


def planned_contacts(session: Session, tenant: str, keys: Sequence[str]) -> list[Row[Any]]:
    return list(session.execute(_PLANNED, {"tenant": tenant, "keys": sorted(keys)}))


def planned_on(session: Session, tenant: str, ids: Sequence[str]) -> list[Row[Any]]:
    """Every planned contact of these accounts, locked in contact order."""
    return list(session.execute(_PLANNED_ON, {"tenant": tenant, "ids": sorted(set(ids))}))


def open_promises_of(session: Session, tenant: str, ids: Sequence[str]) -> set[tuple[str, str]]:
    rows = session.execute(_OPEN_PROMISES, {"tenant": tenant, "ids": sorted(set(ids))})
    return {(r.account_id, r.currency) for r in rows}


def scheduled_of(session: Session, tenant: str, ids: Sequence[str], since: datetime) -> list[Row[Any]]:
    return list(session.execute(_SCHEDULED, {"tenant": tenant, "ids": sorted(set(ids)), "since": since}))


def set_contacts(
    session: Session, tenant: str, changes: Sequence[tuple[str, str, datetime | None, str | None]]
) -> None:
    """(contact_id, status, scheduled_for or None, reason) in one UPDATE."""
    if changes:
        ids, statuses, ats, reasons = (list(c) for c in zip(*changes, strict=True))
        session.execute(
            _SET_CONTACTS,
            {"tenant": tenant, "ids": ids, "statuses": statuses, "ats": ats, "reasons": reasons},
        )


def open_promises_due(session: Session, tenant: str, keys: Sequence[str]) -> list[Row[Any]]:
    return list(session.execute(_OPEN_DUE, {"tenant": tenant, "keys": sorted(keys)}))


def resolve_promises(
    session: Session, tenant: str, changes: Sequence[tuple[str, str]], now: datetime
) -> None:
    if changes:
        ids, statuses = (list(c) for c in zip(*changes, strict=True))
        session.execute(_SET_PROMISES, {"tenant": tenant, "ids": ids, "statuses": statuses, "now": now})
