"""The decision log (``strategy.decisions``): append-only, one multi-row INSERT per call.

Also strategy's record of contact outcomes (``strategy.contact_history``): the last direct
contact and the last telephone conversation per account, which the contact policy reads.
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
    insert,
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

contact_history = Table(
    "contact_history",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("account_id", String(128), primary_key=True),
    Column("direct_at", DateTime(timezone=True), doc="the last direct contact (contact.outcome)"),
    Column("direct_channel", String(16)),
    Column("conversation_at", DateTime(timezone=True), doc="the last telephone conversation"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


def _json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def rows_of(tenant: str, items: Sequence[Decision], cause: str | None) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": tenant,
            "account_id": d.account_id,
            "currency": d.currency,
            "kind": d.kind,
            "at": d.at,
            "contact_id": d.contact_id,
            "channel": d.channel,
            "reason": d.reason,
            "detail": json.loads(json.dumps(_json(d.detail))),
            "strategy": d.strategy,
            "strategy_version": d.strategy_version,
            "actor": d.actor,
            "cause_event_id": cause,
        }
        for d in items
    ]


def record(
    session: Session,
    tenant: str,
    items: Sequence[Decision],
    cause: str | None = None,
    *,
    causes: Sequence[str | None] | None = None,
) -> None:
    """Append ``items`` in one multi-row INSERT (nothing when empty).

    ``cause`` is the event id every decision answered; a batch passes ``causes`` instead,
    one per decision, in the same order.
    """
    if not items:
        return
    rows = rows_of(tenant, items, cause)
    if causes is not None:
        if len(causes) != len(rows):
            raise ValueError("one cause per decision")
        for row, event_id in zip(rows, causes, strict=True):
            row["cause_event_id"] = event_id
    session.execute(insert(decisions).values(rows))


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
_CONSENTS = text(
    """
    SELECT account_id, channel, consent FROM strategy.consents
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS text[]))
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
_HISTORY = text(
    """
    SELECT account_id, direct_at, direct_channel, conversation_at FROM strategy.contact_history
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS text[]))
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


def consents_of(session: Session, tenant: str, ids: Sequence[str]) -> dict[tuple[str, str], bool]:
    rows = session.execute(_CONSENTS, {"tenant": tenant, "ids": sorted(set(ids))})
    return {(r.account_id, r.channel): r.consent for r in rows}


def open_promises_of(session: Session, tenant: str, ids: Sequence[str]) -> set[tuple[str, str]]:
    rows = session.execute(_OPEN_PROMISES, {"tenant": tenant, "ids": sorted(set(ids))})
    return {(r.account_id, r.currency) for r in rows}


def scheduled_of(session: Session, tenant: str, ids: Sequence[str], since: datetime) -> list[Row[Any]]:
    return list(session.execute(_SCHEDULED, {"tenant": tenant, "ids": sorted(set(ids)), "since": since}))


def history_of(session: Session, tenant: str, ids: Sequence[str]) -> dict[str, Row[Any]]:
    return {r.account_id: r for r in session.execute(_HISTORY, {"tenant": tenant, "ids": sorted(set(ids))})}


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
