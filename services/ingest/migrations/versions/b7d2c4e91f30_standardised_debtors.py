"""standardised debtors: ingest.debtors (tenant, digest of the debtor as sent -> standardised debtor)

Revision ID: b7d2c4e91f30
Revises: 9f3b2e7c4a15
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b7d2c4e91f30"
down_revision: str | None = "9f3b2e7c4a15"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "debtors",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "digest"),
        schema="ingest",
    )
    op.create_index(
        "ix_debtors_customer_id", "debtors", ["tenant_id", "customer_id"], unique=False, schema="ingest"
    )


def downgrade() -> None:
    op.drop_index("ix_debtors_customer_id", table_name="debtors", schema="ingest")
    op.drop_table("debtors", schema="ingest")
