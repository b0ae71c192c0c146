"""balances from reconciliation's allocations: invoice open amounts, credit, early open amounts

Revision ID: 3e8b6d0f4a17
Revises: 7d3f9a1c5e22
Create Date: 2026-12-01 19:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '3e8b6d0f4a17'
down_revision: str | None = '7d3f9a1c5e22'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = 'segmentation'


def upgrade() -> None:
    op.add_column(
        'invoices',
        sa.Column(
            'open_amount',
            sa.Numeric(precision=18, scale=4),
            nullable=True,
            comment='as reconciliation last set it (invoice_open_amount_after); NULL: no allocation yet, owes amount',
        ),
        schema=S,
    )
    op.add_column(
        'accounts',
        sa.Column(
            'credit_balance',
            sa.Numeric(precision=18, scale=4),
            server_default='0',
            nullable=False,
            comment="reconciliation's credit_balance_after in the account's currency",
        ),
        schema=S,
    )
    op.create_table(
        'early_open_amounts',
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('invoice_id', sa.String(length=128), nullable=False),
        sa.Column('open_amount', sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('tenant_id', 'invoice_id'),
        schema=S,
        comment='open amounts reconciliation set for invoices segmentation had not seen issued yet',
    )


def downgrade() -> None:
    op.drop_table('early_open_amounts', schema=S)
    op.drop_column('accounts', 'credit_balance', schema=S)
    op.drop_column('invoices', 'open_amount', schema=S)
