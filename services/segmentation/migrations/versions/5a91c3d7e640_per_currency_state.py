"""one delinquency state per (account, currency); aging history keeps its currency

An account is segmented in its deciding currency (the worst delinquency) instead of the currency
of the first fact it saw. Existing rows were profiled in one currency: each account's
``currencies`` starts with that currency's state from its own columns, and every aging history
row takes its account's currency (only facts in the account's currency were kept). An aging row
without an account (none is expected) gets ``XXX``, ISO 4217's "no currency".

Revision ID: 5a91c3d7e640
Revises: e2b8d5a31c04
Create Date: 2026-12-02 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5a91c3d7e640"
down_revision: str | None = "e2b8d5a31c04"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "segmentation"


def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column(
            "currencies",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
            comment="per currency: bucket, stage, days_past_due, aged_on, overdue_balance, credit_balance; "
            "the account's own columns are those of its deciding currency (the worst delinquency)",
        ),
        schema=S,
    )
    op.execute(
        """
        UPDATE segmentation.accounts SET currencies = jsonb_build_object(
            currency,
            jsonb_build_object(
                'bucket', bucket,
                'stage', stage,
                'days_past_due', days_past_due,
                'aged_on', aged_on,
                'overdue_balance', overdue_balance::text,
                'credit_balance', credit_balance::text))
        """
    )
    op.add_column("aging_history", sa.Column("currency", sa.String(length=3), nullable=True), schema=S)
    op.execute(
        """
        UPDATE segmentation.aging_history AS h SET currency = a.currency
        FROM segmentation.accounts AS a
        WHERE a.tenant_id = h.tenant_id AND a.account_id = h.account_id
        """
    )
    op.execute("UPDATE segmentation.aging_history SET currency = 'XXX' WHERE currency IS NULL")
    op.alter_column("aging_history", "currency", nullable=False, schema=S)


def downgrade() -> None:
    op.drop_column("aging_history", "currency", schema=S)
    op.drop_column("accounts", "currencies", schema=S)
