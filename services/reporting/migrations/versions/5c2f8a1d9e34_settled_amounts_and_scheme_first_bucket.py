"""invoices keep what is settled (order-independent open amounts); the first bucket from the scheme file

``invoices.settled`` holds reconciliation's ``invoice_settled_after`` so open = max(amount - settled, 0)
whatever order adjustments and allocations arrive in. ``first_buckets.learned_at`` becomes nullable:
NULL marks a first bucket taken from the tenant's scheme file (aging's buckets.yaml) rather than
learned from an ``account.aged`` event, which always wins over it.

Revision ID: 5c2f8a1d9e34
Revises: d41c9e7b5a20
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c2f8a1d9e34"
down_revision: str | None = "d41c9e7b5a20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "reporting"
NEW_COMMENT = "the first bucket of each tenant's scheme: from aging's scheme file, or learned from its events"
OLD_COMMENT = "the first bucket of each tenant's scheme, learned from aging's events (it is never announced)"


def upgrade() -> None:
    op.add_column("invoices", sa.Column("settled", sa.Numeric(18, 4), nullable=True), schema=S)
    op.alter_column("first_buckets", "learned_at", existing_type=sa.DateTime(timezone=True), nullable=True, schema=S)
    op.create_table_comment("first_buckets", NEW_COMMENT, existing_comment=OLD_COMMENT, schema=S)


def downgrade() -> None:
    op.execute(f"DELETE FROM {S}.first_buckets WHERE learned_at IS NULL")
    op.alter_column("first_buckets", "learned_at", existing_type=sa.DateTime(timezone=True), nullable=False, schema=S)
    op.create_table_comment("first_buckets", OLD_COMMENT, existing_comment=NEW_COMMENT, schema=S)
    op.drop_column("invoices", "settled", schema=S)
