"""segmentation's tables (schema ``segmentation``).

Every key starts with ``tenant_id``: the same account, invoice or payment id in
two tenants is two rows, and every query filters by the tenant.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(schema="segmentation")

accounts = Table(
    "accounts",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("account_id", String(128), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("timezone", String(64), nullable=False, server_default="America/Bogota"),
    Column("customer_id", String(128)),
    Column("customer_kind", String(16)),
    Column("country", String(2)),
    Column("region", String(100)),
    Column("product_line", String(128)),
    Column("advisor_id", String(128)),
    Column("office_id", String(128)),
    Column("agency_id", String(128)),
    Column("first_issued_on", Date),
    Column("total_balance", Numeric(18, 4), nullable=False, server_default="0"),
    Column(
        "credit_balance",
        Numeric(18, 4),
        nullable=False,
        server_default="0",
        comment="reconciliation's credit_balance_after in the account's currency",
    ),
    Column(
        "currencies",
        JSONB,
        nullable=False,
        server_default="{}",
        comment="per currency: bucket, stage, days_past_due, aged_on, overdue_balance, credit_balance; "
        "the account's own columns are those of its deciding currency (the worst delinquency)",
    ),
    Column("bucket", String(32), nullable=False, server_default="current"),
    Column("stage", String(32), comment="the bucket's stage in the tenant's scheme, as aging announced it"),
    Column("days_past_due", Integer, nullable=False, server_default="0"),
    Column("aged_on", Date),
    Column("overdue_balance", Numeric(18, 4), nullable=False, server_default="0"),
    Column("broken_promises", Integer, nullable=False, server_default="0"),
    Column("kept_promises", Integer, nullable=False, server_default="0"),
    Column("last_payment_on", Date),
    Column("score", Numeric(6, 4)),
    Column("score_source", String(64)),
    Column("segment", String(64)),
    Column("segment_rule", String(64)),
    Column("rules_version", String(64)),
    Column("reasons", JSONB),
    Column("segmented_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

invoices = Table(
    "invoices",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("invoice_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("amount", Numeric(18, 4), nullable=False),
    Column(
        "open_amount",
        Numeric(18, 4),
        comment="as reconciliation last set it (invoice_open_amount_after); NULL: no allocation yet, owes amount",
    ),
    Column("currency", String(3), nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("cancelled", Boolean, nullable=False, server_default="false"),
    Index("ix_segmentation_invoices_account", "tenant_id", "account_id"),
)

payments = Table(
    "payments",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("payment_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("amount", Numeric(18, 4), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("received_on", Date, nullable=False),
    Column("on_time", Boolean, nullable=False),
    Column("reversed", Boolean, nullable=False, server_default="false"),
    Index("ix_segmentation_payments_account", "tenant_id", "account_id"),
)

aging_history = Table(
    "aging_history",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("effective_on", Date, nullable=False),
    Column("bucket", String(32), nullable=False),
    Column("stage", String(32)),
    Column("days_past_due", Integer, nullable=False),
    Column("overdue_amount", Numeric(18, 4), nullable=False),
    Index("ix_aging_history_account", "tenant_id", "account_id", "effective_on"),
)

promise_outcomes = Table(
    "promise_outcomes",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("promise_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("outcome", String(8), nullable=False),
    Column("due_on", Date, nullable=False),
    Index("ix_segmentation_promise_outcomes_account", "tenant_id", "account_id"),
)

segment_history = Table(
    "segment_history",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("account_id", String(128), nullable=False),
    Column("segment", String(64), nullable=False),
    Column("previous_segment", String(64)),
    Column("rule", String(64), nullable=False),
    Column("rules_version", String(64), nullable=False),
    Column("reasons", JSONB, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Index("ix_segment_history_account", "tenant_id", "account_id", "id"),
)

rule_sets = Table(
    "rule_sets",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("document", JSONB, nullable=False),
    Column("checksum", String(64), nullable=False),
    Column("source", String(300), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("activated_at", DateTime(timezone=True)),
    Column("active", Boolean, nullable=False, server_default="false"),
)

models = Table(
    "models",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("trained_at", DateTime(timezone=True), nullable=False),
    Column("auc", Float, nullable=False),
    Column("features", JSONB, nullable=False),
    Column("label", Text, nullable=False),
    Column("snapshots", JSONB, nullable=False),
    Column("n_train", Integer, nullable=False),
    Column("n_test", Integer, nullable=False),
    Column("positive_rate", Float, nullable=False),
    Column("artifact", LargeBinary, nullable=False),
    Column("path", String(500)),
    Column("active", Boolean, nullable=False, server_default="false"),
)

early_open_amounts = Table(
    "early_open_amounts",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("invoice_id", String(128), primary_key=True),
    Column("open_amount", Numeric(18, 4), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    comment="open amounts reconciliation set for invoices segmentation had not seen issued yet",
)
