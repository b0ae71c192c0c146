"""tenant_id first in every key; early open amounts for allocations that overtake their invoice

Revision ID: 5b1e7c2a9d40
Revises: a9905b0195cd
Create Date: 2026-12-01 19:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5b1e7c2a9d40'
down_revision: str | None = 'a9905b0195cd'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = 'aging'


def upgrade() -> None:
    # invoices: (tenant_id, invoice_id) is the key; the same id in two tenants is two invoices
    op.alter_column('invoices', 'tenant', new_column_name='tenant_id', server_default=None, schema=S)
    op.drop_constraint('invoices_pkey', 'invoices', type_='primary', schema=S)
    op.create_primary_key('invoices_pkey', 'invoices', ['tenant_id', 'invoice_id'], schema=S)
    op.drop_index('ix_aging_invoices_account_id', table_name='invoices', schema=S)
    op.create_index('ix_aging_invoices_account', 'invoices', ['tenant_id', 'account_id'], schema=S)

    # account_state: its key already starts with the tenant; the account-only index goes
    op.alter_column('account_state', 'tenant', new_column_name='tenant_id', schema=S)
    op.drop_index('ix_aging_account_state_account', table_name='account_state', schema=S)

    op.alter_column('bucket_transitions', 'tenant', new_column_name='tenant_id', schema=S)
    op.drop_constraint('bucket_transitions_pkey', 'bucket_transitions', type_='primary', schema=S)
    op.create_primary_key('bucket_transitions_pkey', 'bucket_transitions', ['tenant_id', 'id'], schema=S)
    op.drop_index('ix_aging_transitions_account', table_name='bucket_transitions', schema=S)
    op.create_index(
        'ix_aging_transitions_account', 'bucket_transitions', ['tenant_id', 'account_id', 'currency'], schema=S
    )

    op.create_table(
        'early_open_amounts',
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('invoice_id', sa.String(length=128), nullable=False),
        sa.Column(
            'account_id', sa.String(length=128), nullable=True, comment="the allocation's account, for operators"
        ),
        sa.Column('open_amount', sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column(
            'payment_id', sa.String(length=128), nullable=False, comment="the allocation's payment, for operators"
        ),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('tenant_id', 'invoice_id'),
        schema=S,
        comment='open amounts reconciliation set for invoices aging had not seen issued yet',
    )


def downgrade() -> None:
    op.drop_table('early_open_amounts', schema=S)
    op.drop_index('ix_aging_transitions_account', table_name='bucket_transitions', schema=S)
    op.create_index('ix_aging_transitions_account', 'bucket_transitions', ['account_id'], schema=S)
    op.drop_constraint('bucket_transitions_pkey', 'bucket_transitions', type_='primary', schema=S)
    op.create_primary_key('bucket_transitions_pkey', 'bucket_transitions', ['id'], schema=S)
    op.alter_column('bucket_transitions', 'tenant_id', new_column_name='tenant', schema=S)
    op.create_index('ix_aging_account_state_account', 'account_state', ['account_id'], schema=S)
    op.alter_column('account_state', 'tenant_id', new_column_name='tenant', schema=S)
    op.drop_index('ix_aging_invoices_account', table_name='invoices', schema=S)
    op.create_index('ix_aging_invoices_account_id', 'invoices', ['account_id'], schema=S)
    op.drop_constraint('invoices_pkey', 'invoices', type_='primary', schema=S)
    op.create_primary_key('invoices_pkey', 'invoices', ['invoice_id'], schema=S)
    op.alter_column(
        'invoices', 'tenant_id', new_column_name='tenant', server_default=sa.text("'default'"), schema=S
    )
