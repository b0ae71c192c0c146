"""aging's tables (schema ``aging``).

``invoices`` keep the billed ``amount`` (invoices topic) and what is ``settled``
(allocations topic) apart, so the open amount does not depend on the order the
two topics arrive in (services/aging/domain/ledger.py). ``invoices`` and ``account_state`` carry the DPD as of their last re-age, so the
daily pass is a set-based UPDATE and reads never recompute a portfolio;
``bucket_transitions`` keeps every bucket change with its local date (roll-rate
inputs for reporting). ``early_open_amounts`` holds an allocation that overtook
its invoice (the invoices and allocations topics are consumed independently)
until the invoice arrives.

Every key starts with ``tenant_id``: the same account or invoice id in two
tenants is two rows.
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
    Column("tenant_id", String(64), primary_key=True),
    Column("invoice_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("amount", Numeric(18, 4), nullable=False),
    Column("open_amount", Numeric(18, 4), nullable=False),
    Column(
        "settled",
        Numeric(18, 4),
        nullable=False,
        server_default=text("0"),
        comment="cash and write-offs settled, as reconciliation's latest allocation says",
    ),
    Column(
        "settled_at",
        DateTime(timezone=True),
        nullable=True,
        comment="time of the allocation event that set settled",
    ),
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
    Index("ix_aging_invoices_account", "tenant_id", "account_id"),
    Index("ix_aging_invoices_tz", "tenant_id", "timezone"),
)

account_state = Table(
    "account_state",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("account_id", String(128), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("timezone", String(64), nullable=False),
    Column("bucket", String(64), nullable=False),
    Column("dpd", Integer, nullable=False),
    Column("overdue_amount", Numeric(18, 4), nullable=False),
    Column("bucket_since", Date, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_aging_account_state_tz", "tenant_id", "timezone"),
)

bucket_transitions = Table(
    "bucket_transitions",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("account_id", String(128), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("from_bucket", String(64), nullable=False),
    Column("to_bucket", String(64), nullable=False),
    Column("transitioned_on", Date, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("dpd", Integer, nullable=False),
    Column("overdue_amount", Numeric(18, 4), nullable=False),
    Index("ix_aging_transitions_on", "tenant_id", "transitioned_on"),
    Index("ix_aging_transitions_account", "tenant_id", "account_id", "currency"),
)

early_open_amounts = Table(
    "early_open_amounts",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("invoice_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=True, comment="the allocation's account, for operators"),
    Column("open_amount", Numeric(18, 4), nullable=False),
    Column(
        "settled",
        Numeric(18, 4),
        nullable=True,
        comment="the allocation's invoice_settled_after, when it had one",
    ),
    Column("at", DateTime(timezone=True), nullable=True, comment="the allocation event's time"),
    Column("payment_id", String(128), nullable=False, comment="the allocation's payment, for operators"),
    Column("received_at", DateTime(timezone=True), nullable=False),
    comment="open amounts reconciliation set for invoices aging had not seen issued yet",
)
