"""The runtime's own tables, created in every service's schema.

* ``inbox``: one row per event a consumer has handled, keyed by (tenant, consumer,
  source, event id): a CloudEvents id is unique only per source, and tenants never
  share ids. Written in the same transaction as the handler's effects, so
  redelivery is a no-op.
* ``outbox``: events (and dead letters) waiting to be published; written in the
  business transaction, published by the relay after commit.
* ``timers``: durable wake-ups (tenant, ``name``, ``key``) a handler asked for: a
  local midnight, a promise's due date, a scheduled contact.

Like every table of the platform, each carries ``tenant_id`` first in its key.
The shape here is the current one; ``migration_ops`` holds the steps that build it.
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

TENANT_LENGTH = 64
SOURCE_LENGTH = 500
EVENT_ID_LENGTH = 200


class RuntimeTables:
    def __init__(self, metadata: MetaData) -> None:
        self.inbox = Table(
            "inbox",
            metadata,
            Column("tenant_id", String(TENANT_LENGTH), primary_key=True),
            Column("consumer", String(100), primary_key=True),
            Column("source", String(SOURCE_LENGTH), primary_key=True),
            Column("event_id", String(EVENT_ID_LENGTH), primary_key=True),
            Column("event_type", String(200), nullable=False),
            Column("processed_at", DateTime(timezone=True), nullable=False),
        )
        self.outbox = Table(
            "outbox",
            metadata,
            Column("tenant_id", String(TENANT_LENGTH), primary_key=True),
            Column("id", BigInteger, primary_key=True, autoincrement=True),
            Column("event_id", String(EVENT_ID_LENGTH), nullable=False),
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
            Column("tenant_id", String(TENANT_LENGTH), primary_key=True),
            Column("name", String(100), primary_key=True),
            Column("key", String(200), primary_key=True),
            Column("fire_at", DateTime(timezone=True), nullable=False),
            Column("data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
            Index("ix_timers_fire_at", "fire_at"),
        )
