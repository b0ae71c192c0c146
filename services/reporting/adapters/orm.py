"""reporting's projection tables (schema ``reporting``) and the SQL views BI tools read.

Every row carries ``tenant_id``, first in every key: the same account or invoice
id in two tenants is two objects. Money truth is reconciliation's: invoices'
open amounts and accounts' credit are *set* from its allocation events, never
computed from raw payments.

The views are written by hand in the migrations, since Alembic does not
autogenerate views; ``views`` describes the ones the API queries and is
deliberately *not* part of ``metadata`` (autogenerate would make them tables).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    MetaData,
    Numeric,
    String,
    Table,
    text,
)

metadata = MetaData(schema="reporting")

MONEY = Numeric(18, 4)
TENANT = String(64)

accounts = Table(
    "accounts",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("account_id", String(128), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("product_line", String(128), doc="ramo, from the latest invoice in this currency"),
    Column("advisor_id", String(128), doc="asesor"),
    Column("office_id", String(128), doc="oficina"),
    Column("agency_id", String(128), doc="agencia"),
    Column("last_issued_on", Date),
    Column("bucket", String(200), doc="as aging names it in the tenant's scheme; NULL until aged"),
    Column("stage", String(200), doc="the bucket's stage (current, early, …) when aging sent it"),
    Column("days_past_due", BigInteger, nullable=False, server_default=text("0")),
    Column("aged_at", DateTime(timezone=True), doc="time of the account.aged event the bucket came from"),
    Column("credit_balance", MONEY, nullable=False, server_default=text("0")),
    Column("credit_as_of", DateTime(timezone=True), doc="time of the allocation the credit came from"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    comment="one row per (tenant, account, currency): balances and buckets never mix currencies",
)

first_buckets = Table(
    "first_buckets",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("bucket", String(200), nullable=False),
    Column("stage", String(200)),
    Column(
        "learned_at",
        DateTime(timezone=True),
        doc="time of the account.aged event that revealed it; NULL: taken from the tenant's scheme file",
    ),
    comment="the first bucket of each tenant's scheme: from aging's scheme file, or learned from its events",
)

invoices = Table(
    "invoices",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("invoice_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", MONEY, doc="billed amount; NULL while only an allocation has named the invoice"),
    Column("open_amount", MONEY, nullable=False, doc="what reconciliation says is still owed"),
    Column("open_as_of", DateTime(timezone=True), doc="time of the allocation event that set open_amount"),
    Column("open_cause", String(200), doc="the event that caused that allocation (envelope causationid)"),
    Column(
        "settled",
        MONEY,
        doc="settled on the invoice (cash plus write-offs) as that allocation said; NULL if it did not say",
    ),
    Column("issued_on", Date, doc="from invoice.issued (NULL for rows projected before tenants)"),
    Column("due_on", Date),
    Column("product_line", String(128)),
    Column("status", String(16), nullable=False, doc="open or cancelled"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_reporting_invoices_account", invoices.c.tenant_id, invoices.c.account_id, invoices.c.currency)

payments = Table(
    "payments",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("payment_id", String(128), primary_key=True),
    Column("account_id", String(128)),
    Column("amount", MONEY, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("received_on", Date, nullable=False),
    Column("reversed", String(1), nullable=False, server_default="N"),
    comment="payments received as the core system or bank reported them: a KPI, never money applied",
)
Index("ix_reporting_payments_account", payments.c.tenant_id, payments.c.account_id)

payment_states = Table(
    "payment_states",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("payment_id", String(128), primary_key=True),
    Column("state", String(16), nullable=False, doc="suspense, applied or reversed (reconciliation's word)"),
    Column("account_id", String(128)),
    Column("currency", String(3), nullable=False),
    Column("suspense_amount", MONEY, doc="the amount parked when the payment went to suspense"),
    Column("suspense_reason", String(64)),
    Column("received_on", Date),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    comment="where reconciliation put each payment; suspense = payments no account could be found for",
)
Index("ix_reporting_payment_states_state", payment_states.c.tenant_id, payment_states.c.state)

promises = Table(
    "promises",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("promise_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("paid_amount", MONEY, nullable=False, server_default="0"),
    Column("currency", String(3), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("status", String(16), nullable=False, doc="open, kept, broken"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_reporting_promises_account", promises.c.tenant_id, promises.c.account_id)

contacts = Table(
    "contacts",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("contact_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("strategy", String(128)),
    Column("step", String(128)),
    Column("status", String(16), nullable=False, doc="due, or the latest outcome status"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_reporting_contacts_account", contacts.c.tenant_id, contacts.c.account_id)

views = MetaData(schema="reporting")

v_account_balances = Table(
    "v_account_balances",
    views,
    Column("tenant_id", TENANT),
    Column("account_id", String(128)),
    Column("currency", String(3)),
    Column("bucket", String(200)),
    Column("stage", String(200)),
    Column("days_past_due", BigInteger),
    Column("product_line", String(128)),
    Column("advisor_id", String(128)),
    Column("office_id", String(128)),
    Column("agency_id", String(128)),
    Column("invoiced", MONEY),
    Column("open_amount", MONEY),
    Column("credit_balance", MONEY),
    Column("balance", MONEY),
)

v_suspense = Table(
    "v_suspense",
    views,
    Column("tenant_id", TENANT),
    Column("currency", String(3)),
    Column("payments", BigInteger),
    Column("amount", MONEY),
)

v_payments_received = Table(
    "v_payments_received",
    views,
    Column("tenant_id", TENANT),
    Column("currency", String(3)),
    Column("payments", BigInteger),
    Column("amount", MONEY),
    Column("reversed_payments", BigInteger),
    Column("reversed_amount", MONEY),
)

v_promise_kept_rate = Table(
    "v_promise_kept_rate",
    views,
    Column("tenant_id", TENANT),
    Column("made", BigInteger),
    Column("kept", BigInteger),
    Column("broken", BigInteger),
    Column("open", BigInteger),
    Column("kept_rate", Numeric),
)

v_contacts_by_channel = Table(
    "v_contacts_by_channel",
    views,
    Column("tenant_id", TENANT),
    Column("channel", String(16)),
    Column("status", String(16)),
    Column("contacts", BigInteger),
)
