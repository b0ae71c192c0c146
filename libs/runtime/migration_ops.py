"""The runtime's tables (inbox, outbox, timers) as Alembic operations, shared by every service's migrations.

Their shape belongs to the runtime, not to each service. Each op is one released step and is
frozen once a service's revision calls it (a database migrated yesterday must reach today's shape
through the same steps as a new one), so a change to ``RuntimeTables`` is a NEW op here plus one
revision per service that only calls it:

1. ``create_runtime_tables``: inbox (consumer, event_id), outbox, timers (name, key) with a tenant.
2. ``add_runtime_tenant_keys``: tenant first in every runtime key; the inbox keyed by
   (tenant, consumer, source, event_id) because a CloudEvents id is unique only per source.
3. ``analyse_early`` / ``analyse_by_default``: a schema's hot tables (its runtime tables among them)
   analysed after 2 % + 50 changed rows, never later than PostgreSQL's default (10 % + 50), so a big
   table's bulk load gets planner statistics within a naptime; and the way back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import MetaData, Table, text
from sqlalchemy.dialects.postgresql import JSONB

NAMES = ("inbox", "outbox", "timers")


def _initial_tables(metadata: MetaData) -> tuple[Table, Table, Table]:
    """Step 1's shape, as released (do not edit: ``RuntimeTables`` is the current shape)."""
    inbox = Table(
        "inbox",
        metadata,
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
    )
    outbox = Table(
        "outbox",
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200)),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=text("0")),
        sa.Column("last_error", sa.Text),
        sa.Index("ix_outbox_pending", "id", postgresql_where=text("published_at IS NULL")),
    )
    timers = Table(
        "timers",
        metadata,
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("fire_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        sa.Column("tenant", sa.String(64), nullable=False, server_default=text("'default'")),
        sa.Index("ix_timers_fire_at", "fire_at"),
    )
    return inbox, outbox, timers


def create_runtime_tables(schema: str) -> None:
    bind = op.get_bind()
    for table in _initial_tables(MetaData(schema=schema)):
        table.create(bind)


def drop_runtime_tables(schema: str) -> None:
    bind = op.get_bind()
    for table in reversed(_initial_tables(MetaData(schema=schema))):
        table.drop(bind)


def _replace_primary_key(schema: str, table: str, columns: list[str]) -> None:
    current = sa.inspect(op.get_bind()).get_pk_constraint(table, schema=schema)
    name = current.get("name") or f"{table}_pkey"
    op.drop_constraint(name, table, schema=schema, type_="primary")
    op.create_primary_key(name, table, columns, schema=schema)


def add_runtime_tenant_keys(schema: str) -> None:
    """Step 2: ``tenant_id`` first in every runtime key; the inbox also keyed by the event's source.

    Rows already there belong to the default tenant (the only one before this step). Their inbox
    rows get an empty source: an event handled before the upgrade and replayed after it is handled
    again: upgrade with consumers drained (lag 0), so no event from before the step is redelivered.
    """
    op.add_column(
        "inbox",
        sa.Column("tenant_id", sa.String(64), nullable=False, server_default="default"),
        schema=schema,
    )
    op.add_column(
        "inbox", sa.Column("source", sa.String(500), nullable=False, server_default=""), schema=schema
    )
    op.alter_column("inbox", "tenant_id", server_default=None, schema=schema)
    op.alter_column("inbox", "source", server_default=None, schema=schema)
    _replace_primary_key(schema, "inbox", ["tenant_id", "consumer", "source", "event_id"])

    op.add_column(
        "outbox",
        sa.Column("tenant_id", sa.String(64), nullable=False, server_default="default"),
        schema=schema,
    )
    op.alter_column("outbox", "tenant_id", server_default=None, schema=schema)
    _replace_primary_key(schema, "outbox", ["tenant_id", "id"])

    op.alter_column("timers", "tenant", new_column_name="tenant_id", server_default=None, schema=schema)
    _replace_primary_key(schema, "timers", ["tenant_id", "name", "key"])


def drop_runtime_tenant_keys(schema: str) -> None:
    """Undo step 2 (only sound while a single tenant and unique event ids are in the tables)."""
    _replace_primary_key(schema, "timers", ["name", "key"])
    op.alter_column(
        "timers", "tenant_id", new_column_name="tenant", server_default=text("'default'"), schema=schema
    )
    _replace_primary_key(schema, "outbox", ["id"])
    op.drop_column("outbox", "tenant_id", schema=schema)
    _replace_primary_key(schema, "inbox", ["consumer", "event_id"])
    op.drop_column("inbox", "source", schema=schema)
    op.drop_column("inbox", "tenant_id", schema=schema)


_ANALYSE_EARLY = "autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 50"


def analyse_early(schema: str, tables: tuple[str, ...]) -> None:
    for table in tables:
        op.execute(f'ALTER TABLE "{schema}"."{table}" SET ({_ANALYSE_EARLY})')


def analyse_by_default(schema: str, tables: tuple[str, ...]) -> None:
    for table in tables:
        op.execute(
            f'ALTER TABLE "{schema}"."{table}" RESET (autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)'
        )
