"""strategy's tables (schema ``strategy``)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, DateTime, MetaData, Numeric, String, Table

metadata = MetaData(schema="strategy")

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(128), primary_key=True),
    Column("customer_id", String(128), index=True),
    Column("timezone", String(64)),
    Column("country", String(2)),
    Column("segment", String(128)),
    Column("bucket", String(64)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

consents = Table(
    "consents",
    metadata,
    Column("account_id", String(128), primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("consent", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

promises = Table(
    "promises",
    metadata,
    Column("promise_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False, index=True),
    Column("amount", Numeric(18, 4), nullable=False),
    Column("paid_amount", Numeric(18, 4), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("made_on", Date, nullable=False),
    Column("deadline", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
)

payments = Table(
    "payments",
    metadata,
    Column("payment_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False, index=True),
    Column("amount", Numeric(18, 4), nullable=False),
    Column("unapplied", Numeric(18, 4), nullable=False, doc="not yet counted toward any promise"),
    Column("currency", String(3), nullable=False),
    Column("received_on", Date, nullable=False),
)

contacts = Table(
    "contacts",
    metadata,
    Column("contact_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False, index=True),
    Column("channel", String(16), nullable=False),
    Column("kind", String(16), nullable=False, doc="pre_due or dunning"),
    Column("playbook", String(128), nullable=False),
    Column("step", String(128), nullable=False),
    Column("template", String(128), nullable=False),
    Column("language", String(16), nullable=False),
    Column("planned_for", DateTime(timezone=True), nullable=False),
    Column("scheduled_for", DateTime(timezone=True)),
    Column("status", String(16), nullable=False, doc="planned, due, skipped, cancelled"),
    Column("reason", String(200)),
)
