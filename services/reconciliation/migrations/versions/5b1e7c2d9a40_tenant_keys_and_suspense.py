"""tenant in every key; known accounts; claimed account and remittance keys of suspense payments

Revision ID: 5b1e7c2d9a40
Revises: c8855fae0373
Create Date: 2026-12-01 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b1e7c2d9a40"
down_revision: str | None = "c8855fae0373"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "reconciliation"

# table -> (old primary key columns, old single-column indexes, new indexes (name, columns, where))
TABLES: dict[str, tuple[list[str], list[str], list[tuple[str, list[str], str | None]]]] = {
    "accounts": (["account_id"], [], []),
    "invoices": (
        ["invoice_id"],
        [
            "ix_reconciliation_invoices_account_id",
            "ix_reconciliation_invoices_policy_key",
            "ix_reconciliation_invoices_reference_key",
        ],
        [
            ("ix_reconciliation_invoices_account", ["account_id"], None),
            ("ix_reconciliation_invoices_reference_key", ["reference_key"], None),
            ("ix_reconciliation_invoices_policy_key", ["policy_key"], None),
        ],
    ),
    "payments": (
        ["payment_id"],
        ["ix_reconciliation_payments_account_id", "ix_reconciliation_payments_suspense"],
        [
            ("ix_reconciliation_payments_account", ["account_id"], None),
            ("ix_reconciliation_payments_suspense", ["received_on"], "status = 'suspense'"),
        ],
    ),
    "allocations": (
        ["id"],
        [
            "ix_reconciliation_allocations_account_id",
            "ix_reconciliation_allocations_invoice_id",
            "ix_reconciliation_allocations_payment_id",
        ],
        [
            ("ix_reconciliation_allocations_payment", ["payment_id"], None),
            ("ix_reconciliation_allocations_invoice", ["invoice_id"], None),
            ("ix_reconciliation_allocations_account", ["account_id"], None),
        ],
    ),
    "credits": (
        ["payment_id"],
        ["ix_reconciliation_credits_account_id"],
        [("ix_reconciliation_credits_account", ["account_id"], None)],
    ),
    "audit": (
        ["id"],
        ["ix_reconciliation_audit_at", "ix_reconciliation_audit_payment_id"],
        [
            ("ix_reconciliation_audit_at", ["at"], None),
            ("ix_reconciliation_audit_payment", ["payment_id"], None),
        ],
    ),
}


def upgrade() -> None:
    for table, (old_key, old_indexes, new_indexes) in TABLES.items():
        for name in old_indexes:
            op.drop_index(name, table_name=table, schema=SCHEMA)
        # rows written before tenants existed belong to the default tenant
        op.add_column(
            table,
            sa.Column("tenant_id", sa.String(length=64), nullable=False, server_default="default"),
            schema=SCHEMA,
        )
        op.alter_column(table, "tenant_id", server_default=None, schema=SCHEMA)
        op.drop_constraint(f"{table}_pkey", table, type_="primary", schema=SCHEMA)
        op.create_primary_key(f"{table}_pkey", table, ["tenant_id", *old_key], schema=SCHEMA)
        for name, columns, where in new_indexes:
            op.create_index(
                name,
                table,
                ["tenant_id", *columns],
                schema=SCHEMA,
                postgresql_where=sa.text(where) if where else None,
            )

    op.add_column(
        "accounts",
        sa.Column(
            "known",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="an invoice or a customer link named the account; until then its payments wait in suspense",
        ),
        schema=SCHEMA,
    )
    op.execute(
        "UPDATE reconciliation.accounts a SET known = true WHERE EXISTS "
        "(SELECT 1 FROM reconciliation.invoices i "
        "WHERE i.tenant_id = a.tenant_id AND i.account_id = a.account_id)"
    )
    op.create_table_comment(
        "accounts",
        "one row per account: the lock every change to the account takes first",
        existing_comment="one row per known account: the lock every change to the account takes first",
        schema=SCHEMA,
    )
    op.alter_column(
        "payments",
        "account_id",
        existing_type=sa.String(length=128),
        comment="the account the payment is applied to",
        existing_nullable=True,
        schema=SCHEMA,
    )
    op.add_column(
        "payments",
        sa.Column(
            "claimed_account_id",
            sa.String(length=128),
            nullable=True,
            comment="the account the payment named (may be one nobody knows yet)",
        ),
        schema=SCHEMA,
    )
    op.add_column(
        "payments",
        sa.Column(
            "method_detail",
            sa.String(length=200),
            nullable=True,
            comment="the label the source sent, when not canonical",
        ),
        schema=SCHEMA,
    )
    op.execute("UPDATE reconciliation.payments SET claimed_account_id = account_id")
    op.create_index(
        "ix_reconciliation_payments_suspense_claimed",
        "payments",
        ["tenant_id", "claimed_account_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'suspense'"),
    )
    op.create_table(
        "suspense_references",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("reference_key", sa.String(length=128), nullable=False),
        sa.Column("payment_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "reference_key", "payment_id"),
        schema=SCHEMA,
        comment="every key a suspense payment's remittance can name an invoice or policy by: "
        "a new invoice finds the payments it may resolve with one lookup",
    )
    _index_parked_references()


def _index_parked_references() -> None:
    """Payments already in suspense without an account: index their remittance keys (same rule as the service)."""
    from services.reconciliation.domain.matching import reference_keys

    bind = op.get_bind()
    parked = bind.execute(
        sa.text(
            "SELECT tenant_id, payment_id, reference FROM reconciliation.payments "
            "WHERE status = 'suspense' AND account_id IS NULL AND reference IS NOT NULL"
        )
    ).all()
    rows = [
        {"tenant_id": r.tenant_id, "reference_key": key, "payment_id": r.payment_id}
        for r in parked
        for key in sorted(reference_keys(r.reference))
        if len(key) <= 128
    ]
    if rows:
        bind.execute(
            sa.text(
                "INSERT INTO reconciliation.suspense_references (tenant_id, reference_key, payment_id) "
                "VALUES (:tenant_id, :reference_key, :payment_id) ON CONFLICT DO NOTHING"
            ),
            rows,
        )


def downgrade() -> None:
    op.drop_table("suspense_references", schema=SCHEMA)
    op.drop_index("ix_reconciliation_payments_suspense_claimed", table_name="payments", schema=SCHEMA)
    op.drop_column("payments", "method_detail", schema=SCHEMA)
    op.drop_column("payments", "claimed_account_id", schema=SCHEMA)
    op.alter_column(
        "payments",
        "account_id",
        existing_type=sa.String(length=128),
        comment=None,
        existing_comment="the account the payment is applied to",
        existing_nullable=True,
        schema=SCHEMA,
    )
    op.drop_column("accounts", "known", schema=SCHEMA)
    op.create_table_comment(
        "accounts",
        "one row per known account: the lock every change to the account takes first",
        schema=SCHEMA,
    )
    for table, (old_key, old_indexes, new_indexes) in TABLES.items():
        for name, _columns, _where in new_indexes:
            op.drop_index(name, table_name=table, schema=SCHEMA)
        op.drop_constraint(f"{table}_pkey", table, type_="primary", schema=SCHEMA)
        op.create_primary_key(f"{table}_pkey", table, old_key, schema=SCHEMA)
        op.drop_column(table, "tenant_id", schema=SCHEMA)
        for name in old_indexes:
            column = name.removeprefix(f"ix_reconciliation_{table}_")
            where = "status = 'suspense'" if column == "suspense" else None
            op.create_index(
                name,
                table,
                ["received_on" if column == "suspense" else column],
                schema=SCHEMA,
                postgresql_where=sa.text(where) if where else None,
            )
