"""reporting's projection tables (schema ``reporting``) and the SQL views BI tools read.

The views are written by hand in the initial migration, since Alembic does not
autogenerate views; ``views`` describes the one the API queries and is
deliberately *not* part of ``metadata`` (autogenerate would make it a table).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, DateTime, MetaData, Numeric, String, Table

metadata = MetaData(schema="reporting")

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(128), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("product_line", String(128), doc="ramo, from the latest invoice"),
    Column("advisor_id", String(128), doc="asesor"),
    Column("office_id", String(128), doc="oficina"),
    Column("agency_id", String(128), doc="agencia"),
    Column("bucket", String(64), nullable=False, server_default="current"),
    Column("days_past_due", BigInteger, nullable=False, server_default="0"),
    Column("last_issued_on", Date),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

invoices = Table(
    "invoices",
    metadata,
    Column("invoice_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False, index=True),
    Column("amount", Numeric(18, 4), nullable=False, doc="current amount; 0 once cancelled"),
    Column("currency", String(3), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("product_line", String(128), nullable=False),
    Column("status", String(16), nullable=False, doc="open or cancelled"),
)

payments = Table(
    "payments",
    metadata,
    Column("payment_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False, index=True),
    Column("amount", Numeric(18, 4), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("received_on", Date, nullable=False),
    Column("reversed", String(1), nullable=False, server_default="N"),
)

promises = Table(
    "promises",
    metadata,
    Column("promise_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False, index=True),
    Column("amount", Numeric(18, 4), nullable=False),
    Column("paid_amount", Numeric(18, 4), nullable=False, server_default="0"),
    Column("currency", String(3), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("status", String(16), nullable=False, doc="open, kept, broken"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

contacts = Table(
    "contacts",
    metadata,
    Column("contact_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False, index=True),
    Column("channel", String(16), nullable=False),
    Column("strategy", String(128)),
    Column("step", String(128)),
    Column("status", String(16), nullable=False, doc="due, or the latest outcome status"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

views = MetaData(schema="reporting")

v_account_balances = Table(
    "v_account_balances",
    views,
    Column("account_id", String(128)),
    Column("currency", String(3)),
    Column("bucket", String(64)),
    Column("product_line", String(128)),
    Column("advisor_id", String(128)),
    Column("office_id", String(128)),
    Column("agency_id", String(128)),
    Column("invoiced", Numeric(18, 4)),
    Column("paid", Numeric(18, 4)),
    Column("balance", Numeric(18, 4)),
)
