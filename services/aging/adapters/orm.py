"""aging's tables (schema ``aging``).

``invoices`` and ``account_state`` carry the DPD as of their last re-age, so the
daily pass is a set-based UPDATE and reads never recompute a portfolio;
``bucket_transitions`` keeps every bucket change with its local date (roll-rate
inputs for reporting).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    text,
)

metadata = MetaData(schema="aging")

invoices = Table(
    "invoices",
    metadata,
    Column("invoice_id", String(128), primary_key=True),
    Column("tenant", String(64), nullable=False, server_default=text("'default'")),
    Column("account_id", String(128), nullable=False, index=True),
    Column("amount", Numeric(18, 4), nullable=False),
    Column("open_amount", Numeric(18, 4), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("product_line", String(128), nullable=False),
    Column("policy_number", String(128), nullable=True),
    Column("status", String(16), nullable=False, server_default=text("'open'")),
    Column("dpd", Integer, nullable=False, server_default=text("0")),
    Column("grace_days", Integer, nullable=True),
    Column("lapse_on", Date, nullable=True),
    Column("lapse_state", String(16), nullable=True, comment="scheduled | lapsed | cancelled"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_aging_invoices_tz", "tenant", "timezone"),
)

account_state = Table(
    "account_state",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("account_id", String(128), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("timezone", String(64), nullable=False),
    Column("bucket", String(64), nullable=False),
    Column("dpd", Integer, nullable=False),
    Column("overdue_amount", Numeric(18, 4), nullable=False),
    Column("bucket_since", Date, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_aging_account_state_tz", "tenant", "timezone"),
    Index("ix_aging_account_state_account", "account_id"),
)

bucket_transitions = Table(
    "bucket_transitions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("account_id", String(128), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("from_bucket", String(64), nullable=False),
    Column("to_bucket", String(64), nullable=False),
    Column("transitioned_on", Date, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("dpd", Integer, nullable=False),
    Column("overdue_amount", Numeric(18, 4), nullable=False),
    Index("ix_aging_transitions_on", "tenant", "transitioned_on"),
    Index("ix_aging_transitions_account", "account_id"),
)
