"""strategy: tenant first in every key; buckets per (account, currency); cash from allocations

* ``tenant_id`` leads every primary key and index; existing rows belong to tenant ``default``.
* ``account_buckets`` replaces ``accounts.bucket``: aging ages per (account, currency), so one
  currency turning current never cures another. Legacy buckets keep the old meaning (``current``
  was the only cured name) under the currency the account's promises or payments used.
* ``payments`` held raw ``payment.received``; it now holds reconciliation's applied cash, so it is
  rebuilt empty (promises keep the paid amount they had). ``promise_payments`` records what each
  payment counted toward each promise, for reversals.
* ``contacts.currency``: the debt a contact is about (legacy rows: as for buckets; ``XXX``, the
  ISO 4217 "no currency" code, when nothing tells).

Revision ID: 40504f5a38e9
Revises: 8521f72bac1e
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "40504f5a38e9"
down_revision: str | None = "8521f72bac1e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "strategy"

LEGACY_CURRENCY = """
    COALESCE(
        (SELECT p.currency FROM strategy.promises p WHERE p.account_id = {alias}.account_id
         ORDER BY p.made_on DESC, p.promise_id DESC LIMIT 1),
        (SELECT y.currency FROM strategy.payments y WHERE y.account_id = {alias}.account_id
         ORDER BY y.received_on DESC, y.payment_id DESC LIMIT 1),
        'XXX')
"""


def _add_tenant(table: str) -> None:
    op.add_column(
        table,
        sa.Column("tenant_id", sa.String(length=64), nullable=False, server_default="default"),
        schema=S,
    )
    op.alter_column(table, "tenant_id", server_default=None, schema=S)


def _rekey(table: str, columns: list[str]) -> None:
    op.drop_constraint(f"{table}_pkey", table, type_="primary", schema=S)
    op.create_primary_key(f"{table}_pkey", table, columns, schema=S)


def upgrade() -> None:
    for table in ("accounts", "consents", "promises", "contacts"):
        _add_tenant(table)

    op.create_table(
        "account_buckets",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("bucket", sa.String(length=200), nullable=False),
        sa.Column("stage", sa.String(length=200), nullable=True),
        sa.Column("cured", sa.Boolean(), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "account_id", "currency"),
        schema=S,
    )
    op.execute(
        "INSERT INTO strategy.account_buckets "
        "(tenant_id, account_id, currency, bucket, stage, cured, entered_at, updated_at) "
        f"SELECT a.tenant_id, a.account_id, {LEGACY_CURRENCY.format(alias='a')}, a.bucket, NULL, "
        "a.bucket = 'current', a.updated_at, a.updated_at "
        "FROM strategy.accounts a WHERE a.bucket IS NOT NULL"
    )
    op.add_column(
        "contacts",
        sa.Column("currency", sa.String(length=3), nullable=False, server_default="XXX"),
        schema=S,
    )
    op.alter_column("contacts", "currency", server_default=None, schema=S)
    op.execute(f"UPDATE strategy.contacts c SET currency = {LEGACY_CURRENCY.format(alias='c')}")

    op.drop_index("ix_strategy_accounts_customer_id", table_name="accounts", schema=S)
    op.drop_column("accounts", "bucket", schema=S)
    op.alter_column("accounts", "segment", type_=sa.String(length=200), schema=S)
    _rekey("accounts", ["tenant_id", "account_id"])
    op.create_index(
        "ix_strategy_accounts_tenant_customer", "accounts", ["tenant_id", "customer_id"], schema=S
    )

    _rekey("consents", ["tenant_id", "account_id", "channel"])

    op.drop_index("ix_strategy_promises_account_id", table_name="promises", schema=S)
    _rekey("promises", ["tenant_id", "promise_id"])
    op.create_index(
        "ix_strategy_promises_tenant_account", "promises", ["tenant_id", "account_id", "currency"], schema=S
    )

    op.drop_index("ix_strategy_contacts_account_id", table_name="contacts", schema=S)
    op.alter_column("contacts", "playbook", type_=sa.String(length=200), schema=S)
    _rekey("contacts", ["tenant_id", "contact_id"])
    op.create_index(
        "ix_strategy_contacts_tenant_account", "contacts", ["tenant_id", "account_id", "currency"], schema=S
    )

    op.drop_index("ix_strategy_payments_account_id", table_name="payments", schema=S)
    op.drop_table("payments", schema=S)
    op.create_table(
        "payments",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("payment_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("unapplied", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reversed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "payment_id"),
        schema=S,
    )
    op.create_index(
        "ix_strategy_payments_tenant_account", "payments", ["tenant_id", "account_id", "currency"], schema=S
    )
    op.create_table(
        "promise_payments",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("promise_id", sa.String(length=128), nullable=False),
        sa.Column("payment_id", sa.String(length=128), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "promise_id", "payment_id"),
        schema=S,
    )
    op.create_index(
        "ix_strategy_promise_payments_tenant_payment",
        "promise_payments",
        ["tenant_id", "payment_id"],
        schema=S,
    )


def downgrade() -> None:
    """Back to one tenant: only tenant ``default``'s rows survive (the old keys cannot hold more)."""
    for table in ("accounts", "consents", "promises", "contacts"):
        op.execute(f"DELETE FROM strategy.{table} WHERE tenant_id <> 'default'")
    op.drop_index("ix_strategy_promise_payments_tenant_payment", table_name="promise_payments", schema=S)
    op.drop_table("promise_payments", schema=S)
    op.drop_index("ix_strategy_payments_tenant_account", table_name="payments", schema=S)
    op.drop_table("payments", schema=S)
    op.create_table(
        "payments",
        sa.Column("payment_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("unapplied", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("payment_id"),
        schema=S,
    )
    op.create_index("ix_strategy_payments_account_id", "payments", ["account_id"], schema=S)

    op.drop_index("ix_strategy_contacts_tenant_account", table_name="contacts", schema=S)
    _rekey("contacts", ["contact_id"])
    op.alter_column("contacts", "playbook", type_=sa.String(length=128), schema=S)
    op.drop_column("contacts", "currency", schema=S)
    op.create_index("ix_strategy_contacts_account_id", "contacts", ["account_id"], schema=S)

    op.drop_index("ix_strategy_promises_tenant_account", table_name="promises", schema=S)
    _rekey("promises", ["promise_id"])
    op.create_index("ix_strategy_promises_account_id", "promises", ["account_id"], schema=S)

    _rekey("consents", ["account_id", "channel"])

    op.drop_index("ix_strategy_accounts_tenant_customer", table_name="accounts", schema=S)
    _rekey("accounts", ["account_id"])
    op.alter_column("accounts", "segment", type_=sa.String(length=128), schema=S)
    op.add_column("accounts", sa.Column("bucket", sa.String(length=64), nullable=True), schema=S)
    op.execute(
        "UPDATE strategy.accounts a SET bucket = (SELECT b.bucket FROM strategy.account_buckets b "
        "WHERE b.tenant_id = 'default' AND b.account_id = a.account_id "
        "ORDER BY b.cured, b.updated_at DESC LIMIT 1)"
    )
    op.create_index("ix_strategy_accounts_customer_id", "accounts", ["customer_id"], schema=S)
    op.drop_table("account_buckets", schema=S)
    for table in ("contacts", "promises", "consents", "accounts"):
        op.drop_column(table, "tenant_id", schema=S)
