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
)
from sqlalchemy.dialects.postgresql import JSONB
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
