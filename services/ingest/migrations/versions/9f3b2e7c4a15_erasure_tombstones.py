"""erasure tombstones: ingest.erasures (tenant, customer_id, erased_at, legal_basis, reason)

Revision ID: 9f3b2e7c4a15
Revises: 263a64350589
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9f3b2e7c4a15"
down_revision: str | None = "263a64350589"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("legal_basis", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "customer_id"),
        schema="ingest",
    )


def downgrade() -> None:
    op.drop_table("erasures", schema="ingest")
