"""reconciliation's tables (schema ``reconciliation``).

Every key starts with ``tenant_id``: the same account, invoice or payment id in two
tenants is two objects that never meet. Document ids are opaque (ingest mints them
unique per tenant); account ids are tenant-wide references.
"""

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
TENANT = String(64)

accounts = Table(
    "accounts",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("account_id", String(128), primary_key=True),
    Column("customer_id", String(128), nullable=True),
    Column("customer_name", String(300), nullable=True),
    Column(
        "known",
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="an invoice or a customer link named the account; until then its payments wait in suspense",
    ),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    comment="one row per account: the lock every change to the account takes first",
)

invoices = Table(
    "invoices",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("invoice_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("open_amount", MONEY, nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("policy_number", String(128), nullable=True),
    Column("reference_key", String(128), nullable=False, comment="normalised invoice id"),
    Column("policy_key", String(128), nullable=True, comment="normalised policy number"),
    Column(
        "natural_id",
        String(128),
        nullable=True,
        comment="the source system's id when ingest minted invoice_id as <source>:<id>",
    ),
    Column("natural_key", String(128), nullable=True, comment="normalised natural id"),
    Column("status", String(16), nullable=False, comment="open | paid | cancelled"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_reconciliation_invoices_account", "tenant_id", "account_id"),
    Index("ix_reconciliation_invoices_reference_key", "tenant_id", "reference_key"),
    Index("ix_reconciliation_invoices_policy_key", "tenant_id", "policy_key"),
    Index("ix_reconciliation_invoices_natural_key", "tenant_id", "natural_key"),
)

payments = Table(
    "payments",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("payment_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=True, comment="the account the payment is applied to"),
    Column(
        "claimed_account_id",
        String(128),
        nullable=True,
        comment="the account the payment named (may be one nobody knows yet)",
    ),
    Column("currency", String(3), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("received_on", Date, nullable=False),
    Column("method", String(32), nullable=False),
    Column(
        "method_detail", String(200), nullable=True, comment="the label the source sent, when not canonical"
    ),
    Column("reference", String(300), nullable=True),
    Column("payer_name", String(300), nullable=True),
    Column("status", String(16), nullable=False, comment="applied | suspense | reversed"),
    Column("rule", String(32), nullable=True),
    Column("suspense_reason", String(64), nullable=True),
    Column("reversed_on", Date, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_reconciliation_payments_account", "tenant_id", "account_id"),
    Index(
        "ix_reconciliation_payments_suspense",
        "tenant_id",
        "received_on",
        postgresql_where=text("status = 'suspense'"),
    ),
    Index(
        "ix_reconciliation_payments_suspense_claimed",
        "tenant_id",
        "claimed_account_id",
        postgresql_where=text("status = 'suspense'"),
    ),
)

suspense_references = Table(
    "suspense_references",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("reference_key", String(128), primary_key=True),
    Column("payment_id", String(128), primary_key=True),
    comment="every key a suspense payment's remittance can name an invoice or policy by: "
    "a new invoice finds the payments it may resolve with one lookup",
)

allocations = Table(
    "allocations",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("payment_id", String(128), nullable=False),
    Column("invoice_id", String(128), nullable=False),
    Column("account_id", String(128), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("written_off", MONEY, nullable=False, server_default=text("0")),
    Column("rule", String(32), nullable=False),
    Column("applied_on", Date, nullable=False),
    Column("reversed", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_reconciliation_allocations_payment", "tenant_id", "payment_id"),
    Index("ix_reconciliation_allocations_invoice", "tenant_id", "invoice_id"),
    Index("ix_reconciliation_allocations_account", "tenant_id", "account_id"),
)

credits = Table(
    "credits",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("payment_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", MONEY, nullable=False, comment="what is left of the payment as credit balance"),
    Column("received_on", Date, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_reconciliation_credits_account", "tenant_id", "account_id"),
)

audit = Table(
    "audit",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(128), nullable=False, comment="who did it"),
    Column("action", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("payment_id", String(128), nullable=True),
    Column("account_id", String(128), nullable=True),
    Column("invoice_id", String(128), nullable=True),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Index("ix_reconciliation_audit_at", "tenant_id", "at"),
    Index("ix_reconciliation_audit_payment", "tenant_id", "payment_id"),
)
