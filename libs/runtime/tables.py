"""The runtime's own tables, created in every service's schema.

* ``inbox``: one row per event a consumer has handled; written in the same
  transaction as the handler's effects, so redelivery is a no-op.
* ``outbox``: events (and dead letters) waiting to be published; written in the
  business transaction, published by the relay after commit.
* ``timers``: durable wake-ups (``name``, ``key``) a handler asked for: a local
  midnight, a promise's due date, a scheduled contact.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB


class RuntimeTables:
    def __init__(self, metadata: MetaData) -> None:
        self.inbox = Table(
            "inbox",
            metadata,
            Column("consumer", String(100), primary_key=True),
            Column("event_id", String(200), primary_key=True),
            Column("event_type", String(200), nullable=False),
            Column("processed_at", DateTime(timezone=True), nullable=False),
        )
        self.outbox = Table(
            "outbox",
            metadata,
            Column("id", BigInteger, primary_key=True, autoincrement=True),
            Column("event_id", String(200), nullable=False),
            Column("event_type", String(200), nullable=False),
            Column("topic", String(200), nullable=False),
            Column("key", String(200)),
            Column("value", LargeBinary, nullable=False),
            Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
            Column("created_at", DateTime(timezone=True), nullable=False),
            Column("published_at", DateTime(timezone=True)),
            Column("attempts", Integer, nullable=False, server_default=text("0")),
            Column("last_error", Text),
            Index("ix_outbox_pending", "id", postgresql_where=text("published_at IS NULL")),
        )
        self.timers = Table(
            "timers",
            metadata,
            Column("name", String(100), primary_key=True),
            Column("key", String(200), primary_key=True),
            Column("fire_at", DateTime(timezone=True), nullable=False),
            Column("data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
            Column("tenant", String(64), nullable=False, server_default=text("'default'")),
            Index("ix_timers_fire_at", "fire_at"),
        )
