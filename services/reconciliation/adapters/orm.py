"""reconciliation's tables (schema ``reconciliation``)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(schema="reconciliation")

MONEY = Numeric(18, 4)

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(128), primary_key=True),
    Column("customer_id", String(128), nullable=True),
    Column("customer_name", String(300), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    comment="one row per known account: the lock every change to the account takes first",
)

invoices = Table(
    "invoices",
    metadata,
    Column("invoice_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False, index=True),
    Column("currency", String(3), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("open_amount", MONEY, nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("policy_number", String(128), nullable=True),
    Column("reference_key", String(128), nullable=False, index=True, comment="normalised invoice id"),
    Column("policy_key", String(128), nullable=True, index=True, comment="normalised policy number"),
    Column("status", String(16), nullable=False, comment="open | paid | cancelled"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

payments = Table(
    "payments",
    metadata,
    Column("payment_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=True, index=True),
    Column("currency", String(3), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("received_on", Date, nullable=False),
    Column("method", String(32), nullable=False),
    Column("reference", String(300), nullable=True),
    Column("payer_name", String(300), nullable=True),
    Column("status", String(16), nullable=False, comment="applied | suspense | reversed"),
    Column("rule", String(32), nullable=True),
    Column("suspense_reason", String(64), nullable=True),
    Column("reversed_on", Date, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index(
    "ix_reconciliation_payments_suspense",
    payments.c.received_on,
    postgresql_where=text("status = 'suspense'"),
)

allocations = Table(
    "allocations",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("payment_id", String(128), nullable=False, index=True),
    Column("invoice_id", String(128), nullable=False, index=True),
    Column("account_id", String(128), nullable=False, index=True),
    Column("currency", String(3), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("written_off", MONEY, nullable=False, server_default=text("0")),
    Column("rule", String(32), nullable=False),
    Column("applied_on", Date, nullable=False),
    Column("reversed", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

credits = Table(
    "credits",
    metadata,
    Column("payment_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False, index=True),
    Column("currency", String(3), nullable=False),
    Column("amount", MONEY, nullable=False, comment="what is left of the payment as credit balance"),
    Column("received_on", Date, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

audit = Table(
    "audit",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("actor", String(128), nullable=False, comment="who did it"),
    Column("action", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("payment_id", String(128), nullable=True, index=True),
    Column("account_id", String(128), nullable=True),
    Column("invoice_id", String(128), nullable=True),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
)
