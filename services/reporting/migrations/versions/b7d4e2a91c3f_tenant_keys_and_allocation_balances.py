"""tenant first in every key; balances from reconciliation's allocations per (account, currency)

* every table gets ``tenant_id`` (existing rows: ``default``) first in its primary key and indexes;
* ``accounts`` is one row per (tenant, account, currency) with the bucket/stage aging sent (no
  hard-coded default bucket) and the credit balance reconciliation announced;
* ``invoices`` keep the open amount reconciliation's allocations set (``open_amount``, ``open_as_of``,
  ``open_cause``); the billed amount is NULL while only an allocation has named the invoice;
* ``payment_states``: where reconciliation put each payment (suspense, applied, reversed);
* the views expose ``tenant_id``; balance = open - credit, never floored at zero.

Existing invoices start with open = billed amount (the old projection did not track allocations);
replay the allocations topic into reporting to rebuild exact balances.

Revision ID: b7d4e2a91c3f
Revises: 8e768755261f
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7d4e2a91c3f"
down_revision: str | None = "8e768755261f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "reporting"
MONEY = sa.Numeric(precision=18, scale=4)

OLD_VIEWS = ("v_contacts_by_channel", "v_promise_kept_rate", "v_portfolio", "v_account_balances")
NEW_VIEWS = (
    "v_contacts_by_channel",
    "v_promise_kept_rate",
    "v_payments_received",
    "v_suspense",
    "v_portfolio",
    "v_account_balances",
)

VIEWS_SQL = (
    """
CREATE VIEW reporting.v_account_balances AS
SELECT a.tenant_id, a.account_id, a.currency, a.bucket, a.stage, a.days_past_due,
       a.product_line, a.advisor_id, a.office_id, a.agency_id,
       COALESCE(i.invoiced, 0) AS invoiced,
       COALESCE(i.open_amount, 0) AS open_amount,
       a.credit_balance,
       COALESCE(i.open_amount, 0) - a.credit_balance AS balance
FROM reporting.accounts a
LEFT JOIN (SELECT tenant_id, account_id, currency,
                  SUM(amount) AS invoiced, SUM(open_amount) AS open_amount
           FROM reporting.invoices WHERE status = 'open'
           GROUP BY tenant_id, account_id, currency) i
       ON i.tenant_id = a.tenant_id AND i.account_id = a.account_id AND i.currency = a.currency
""",
    """
CREATE VIEW reporting.v_portfolio AS
SELECT tenant_id, bucket, stage, product_line, advisor_id, office_id, agency_id, currency,
       COUNT(*) AS accounts, SUM(open_amount) AS open_amount, SUM(credit_balance) AS credit_balance,
       SUM(balance) AS balance
FROM reporting.v_account_balances
GROUP BY tenant_id, bucket, stage, product_line, advisor_id, office_id, agency_id, currency
""",
    """
CREATE VIEW reporting.v_suspense AS
SELECT tenant_id, currency, COUNT(*) AS payments, COALESCE(SUM(suspense_amount), 0) AS amount
FROM reporting.payment_states WHERE state = 'suspense'
GROUP BY tenant_id, currency
""",
    """
CREATE VIEW reporting.v_payments_received AS
SELECT tenant_id, currency, COUNT(*) AS payments, SUM(amount) AS amount,
       COUNT(*) FILTER (WHERE reversed = 'Y') AS reversed_payments,
       COALESCE(SUM(amount) FILTER (WHERE reversed = 'Y'), 0) AS reversed_amount
FROM reporting.payments
GROUP BY tenant_id, currency
""",
    """
CREATE VIEW reporting.v_promise_kept_rate AS
SELECT tenant_id,
       COUNT(*) AS made,
       COUNT(*) FILTER (WHERE status = 'kept') AS kept,
       COUNT(*) FILTER (WHERE status = 'broken') AS broken,
       COUNT(*) FILTER (WHERE status = 'open') AS open,
       ROUND(COUNT(*) FILTER (WHERE status = 'kept')::numeric
             / NULLIF(COUNT(*) FILTER (WHERE status IN ('kept', 'broken')), 0), 4) AS kept_rate
FROM reporting.promises
GROUP BY tenant_id
""",
    """
CREATE VIEW reporting.v_contacts_by_channel AS
SELECT tenant_id, channel, status, COUNT(*) AS contacts
FROM reporting.contacts GROUP BY tenant_id, channel, status
""",
)

OLD_VIEWS_SQL = (
    """
CREATE VIEW reporting.v_account_balances AS
SELECT a.account_id, a.currency, a.bucket, a.product_line, a.advisor_id, a.office_id, a.agency_id,
       COALESCE(i.invoiced, 0) AS invoiced,
       COALESCE(p.paid, 0) AS paid,
       GREATEST(COALESCE(i.invoiced, 0) - COALESCE(p.paid, 0), 0) AS balance
FROM reporting.accounts a
LEFT JOIN (SELECT account_id, currency, SUM(amount) AS invoiced FROM reporting.invoices
           WHERE status = 'open' GROUP BY account_id, currency) i
       ON i.account_id = a.account_id AND i.currency = a.currency
LEFT JOIN (SELECT account_id, currency, SUM(amount) AS paid FROM reporting.payments
           WHERE reversed = 'N' GROUP BY account_id, currency) p
       ON p.account_id = a.account_id AND p.currency = a.currency
""",
    """
CREATE VIEW reporting.v_portfolio AS
SELECT bucket, product_line, advisor_id, office_id, agency_id, currency,
       COUNT(*) AS accounts, SUM(balance) AS balance
FROM reporting.v_account_balances
GROUP BY bucket, product_line, advisor_id, office_id, agency_id, currency
""",
    """
CREATE VIEW reporting.v_promise_kept_rate AS
SELECT COUNT(*) AS made,
       COUNT(*) FILTER (WHERE status = 'kept') AS kept,
       COUNT(*) FILTER (WHERE status = 'broken') AS broken,
       COUNT(*) FILTER (WHERE status = 'open') AS open,
       ROUND(COUNT(*) FILTER (WHERE status = 'kept')::numeric
             / NULLIF(COUNT(*) FILTER (WHERE status IN ('kept', 'broken')), 0), 4) AS kept_rate
FROM reporting.promises
""",
    """
CREATE VIEW reporting.v_contacts_by_channel AS
SELECT channel, status, COUNT(*) AS contacts FROM reporting.contacts GROUP BY channel, status
""",
)

# table -> (old primary key columns, old single-column index on account_id or None)
KEYED = {
    "accounts": (["account_id"], None),
    "invoices": (["invoice_id"], "ix_reporting_invoices_account_id"),
    "payments": (["payment_id"], "ix_reporting_payments_account_id"),
    "promises": (["promise_id"], "ix_reporting_promises_account_id"),
    "contacts": (["contact_id"], "ix_reporting_contacts_account_id"),
}
NEW_KEYS = {
    "accounts": ["tenant_id", "account_id", "currency"],
    "invoices": ["tenant_id", "invoice_id"],
    "payments": ["tenant_id", "payment_id"],
    "promises": ["tenant_id", "promise_id"],
    "contacts": ["tenant_id", "contact_id"],
}
NEW_INDEXES = {
    "invoices": ("ix_reporting_invoices_account", ["tenant_id", "account_id", "currency"]),
    "payments": ("ix_reporting_payments_account", ["tenant_id", "account_id"]),
    "promises": ("ix_reporting_promises_account", ["tenant_id", "account_id"]),
    "contacts": ("ix_reporting_contacts_account", ["tenant_id", "account_id"]),
}


def upgrade() -> None:
    for view in OLD_VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {S}.{view}")
    for table, (_, old_index) in KEYED.items():
        op.add_column(
            table, sa.Column("tenant_id", sa.String(64), nullable=False, server_default="default"), schema=S
        )
        op.alter_column(table, "tenant_id", server_default=None, schema=S)
        op.drop_constraint(f"{table}_pkey", table, type_="primary", schema=S)
        op.create_primary_key(f"{table}_pkey", table, NEW_KEYS[table], schema=S)
        if old_index is not None:
            op.drop_index(old_index, table_name=table, schema=S)
    for table, (name, columns) in NEW_INDEXES.items():
        op.create_index(name, table, columns, unique=False, schema=S)

    op.alter_column(
        "accounts", "bucket", type_=sa.String(200), existing_type=sa.String(64), nullable=True,
        server_default=None, schema=S,
    )
    op.add_column("accounts", sa.Column("stage", sa.String(200), nullable=True), schema=S)
    op.add_column("accounts", sa.Column("aged_at", sa.DateTime(timezone=True), nullable=True), schema=S)
    op.add_column(
        "accounts", sa.Column("credit_balance", MONEY, nullable=False, server_default=sa.text("0")), schema=S
    )
    op.add_column("accounts", sa.Column("credit_as_of", sa.DateTime(timezone=True), nullable=True), schema=S)
    op.create_table_comment(
        "accounts",
        "one row per (tenant, account, currency): balances and buckets never mix currencies",
        schema=S,
    )

    op.alter_column("invoices", "amount", existing_type=MONEY, nullable=True, schema=S)
    op.alter_column("invoices", "due_on", existing_type=sa.Date(), nullable=True, schema=S)
    op.alter_column("invoices", "product_line", existing_type=sa.String(128), nullable=True, schema=S)
    op.add_column("invoices", sa.Column("open_amount", MONEY, nullable=True), schema=S)
    op.execute(
        f"UPDATE {S}.invoices SET open_amount = CASE WHEN status = 'open' THEN amount ELSE 0 END"
    )
    op.alter_column("invoices", "open_amount", existing_type=MONEY, nullable=False, schema=S)
    op.add_column("invoices", sa.Column("open_as_of", sa.DateTime(timezone=True), nullable=True), schema=S)
    op.add_column("invoices", sa.Column("open_cause", sa.String(200), nullable=True), schema=S)
    op.add_column("invoices", sa.Column("issued_on", sa.Date(), nullable=True), schema=S)
    op.add_column("invoices", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True), schema=S)
    op.execute(f"UPDATE {S}.invoices SET updated_at = now()")
    op.alter_column(
        "invoices", "updated_at", existing_type=sa.DateTime(timezone=True), nullable=False, schema=S
    )

    op.alter_column("payments", "account_id", existing_type=sa.String(128), nullable=True, schema=S)
    op.create_table_comment(
        "payments",
        "payments received as the core system or bank reported them: a KPI, never money applied",
        schema=S,
    )

    op.create_table(
        "payment_states",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("payment_id", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("suspense_amount", MONEY, nullable=True),
        sa.Column("suspense_reason", sa.String(64), nullable=True),
        sa.Column("received_on", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "payment_id"),
        schema=S,
        comment="where reconciliation put each payment; suspense = payments no account could be found for",
    )
    op.create_index(
        "ix_reporting_payment_states_state", "payment_states", ["tenant_id", "state"], unique=False, schema=S
    )
    for statement in VIEWS_SQL:
        op.execute(statement)


def downgrade() -> None:
    for view in NEW_VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {S}.{view}")
    op.drop_index("ix_reporting_payment_states_state", table_name="payment_states", schema=S)
    op.drop_table("payment_states", schema=S)
    op.drop_table_comment("payments", schema=S)
    op.execute(f"DELETE FROM {S}.payments WHERE account_id IS NULL")
    op.alter_column("payments", "account_id", existing_type=sa.String(128), nullable=False, schema=S)
    op.execute(f"DELETE FROM {S}.invoices WHERE amount IS NULL")
    for column in ("updated_at", "issued_on", "open_cause", "open_as_of", "open_amount"):
        op.drop_column("invoices", column, schema=S)
    op.execute(f"UPDATE {S}.invoices SET product_line = '' WHERE product_line IS NULL")
    op.execute(f"UPDATE {S}.invoices SET due_on = DATE '1970-01-01' WHERE due_on IS NULL")
    op.alter_column("invoices", "amount", existing_type=MONEY, nullable=False, schema=S)
    op.alter_column("invoices", "due_on", existing_type=sa.Date(), nullable=False, schema=S)
    op.alter_column("invoices", "product_line", existing_type=sa.String(128), nullable=False, schema=S)
    op.drop_table_comment("accounts", schema=S)
    for column in ("credit_as_of", "credit_balance", "aged_at", "stage"):
        op.drop_column("accounts", column, schema=S)
    op.execute(f"UPDATE {S}.accounts SET bucket = 'current' WHERE bucket IS NULL")
    op.alter_column(
        "accounts", "bucket", type_=sa.String(64), existing_type=sa.String(200), nullable=False,
        server_default="current", schema=S,
    )
    for table, (name, _) in NEW_INDEXES.items():
        op.drop_index(name, table_name=table, schema=S)
    # Collapsing tenants back into one key space keeps the default tenant's rows.
    for table, (old_key, old_index) in KEYED.items():
        op.execute(f"DELETE FROM {S}.{table} WHERE tenant_id <> 'default'")
        op.drop_constraint(f"{table}_pkey", table, type_="primary", schema=S)
        if table == "accounts":
            op.execute(
                f"DELETE FROM {S}.accounts a USING {S}.accounts b "
                "WHERE a.account_id = b.account_id AND a.ctid > b.ctid"
            )
        op.create_primary_key(f"{table}_pkey", table, old_key, schema=S)
        if old_index is not None:
            op.create_index(old_index, table, ["account_id"], unique=False, schema=S)
        op.drop_column(table, "tenant_id", schema=S)
    for statement in OLD_VIEWS_SQL:
        op.execute(statement)
