"""invoices: the id the source system uses (natural_id) and its normalised key, for remittance matching

Revision ID: 9d4e2a7c1b36
Revises: 2f50892db4a1
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9d4e2a7c1b36"
down_revision: str | None = "2f50892db4a1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "invoices",
        sa.Column(
            "natural_id",
            sa.String(length=128),
            nullable=True,
            comment="the source system's id when ingest minted invoice_id as <source>:<id>",
        ),
        schema="reconciliation",
    )
    op.add_column(
        "invoices",
        sa.Column("natural_key", sa.String(length=128), nullable=True, comment="normalised natural id"),
        schema="reconciliation",
    )
    op.create_index(
        "ix_reconciliation_invoices_natural_key",
        "invoices",
        ["tenant_id", "natural_key"],
        unique=False,
        schema="reconciliation",
    )


def downgrade() -> None:
    op.drop_index("ix_reconciliation_invoices_natural_key", table_name="invoices", schema="reconciliation")
    op.drop_column("invoices", "natural_key", schema="reconciliation")
    op.drop_column("invoices", "natural_id", schema="reconciliation")
