"""tenant_id first in every key; the stage aging announced

Rows written before this revision belong to their account's tenant (``accounts.tenant``).

Revision ID: 7d3f9a1c5e22
Revises: bcef741ebe23
Create Date: 2026-12-01 19:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '7d3f9a1c5e22'
down_revision: str | None = 'bcef741ebe23'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = 'segmentation'
# table -> (its natural id, the old account index name, the new index name and columns)
PER_ACCOUNT = {
    'invoices': ('invoice_id', 'ix_segmentation_invoices_account_id', 'ix_segmentation_invoices_account'),
    'payments': ('payment_id', 'ix_segmentation_payments_account_id', 'ix_segmentation_payments_account'),
    'promise_outcomes': (
        'promise_id',
        'ix_segmentation_promise_outcomes_account_id',
        'ix_segmentation_promise_outcomes_account',
    ),
}


def _add_tenant_from_accounts(table: str) -> None:
    op.add_column(
        table,
        sa.Column('tenant_id', sa.String(length=64), nullable=False, server_default='default'),
        schema=S,
    )
    op.execute(
        f'UPDATE {S}.{table} t SET tenant_id = a.tenant_id FROM {S}.accounts a WHERE a.account_id = t.account_id'
    )
    op.alter_column(table, 'tenant_id', server_default=None, schema=S)


def upgrade() -> None:
    op.alter_column('accounts', 'tenant', new_column_name='tenant_id', schema=S)
    op.drop_index('ix_segmentation_accounts_tenant', table_name='accounts', schema=S)
    op.drop_constraint('accounts_pkey', 'accounts', type_='primary', schema=S)
    op.create_primary_key('accounts_pkey', 'accounts', ['tenant_id', 'account_id'], schema=S)
    op.add_column(
        'accounts',
        sa.Column(
            'stage',
            sa.String(length=32),
            nullable=True,
            comment="the bucket's stage in the tenant's scheme, as aging announced it",
        ),
        schema=S,
    )

    for table, (natural, old_index, new_index) in PER_ACCOUNT.items():
        _add_tenant_from_accounts(table)
        op.drop_constraint(f'{table}_pkey', table, type_='primary', schema=S)
        op.create_primary_key(f'{table}_pkey', table, ['tenant_id', natural], schema=S)
        op.drop_index(old_index, table_name=table, schema=S)
        op.create_index(new_index, table, ['tenant_id', 'account_id'], schema=S)

    _add_tenant_from_accounts('aging_history')
    op.add_column('aging_history', sa.Column('stage', sa.String(length=32), nullable=True), schema=S)
    op.drop_constraint('aging_history_pkey', 'aging_history', type_='primary', schema=S)
    op.create_primary_key('aging_history_pkey', 'aging_history', ['tenant_id', 'event_id'], schema=S)
    op.drop_index('ix_aging_history_account', table_name='aging_history', schema=S)
    op.create_index(
        'ix_aging_history_account', 'aging_history', ['tenant_id', 'account_id', 'effective_on'], schema=S
    )

    _add_tenant_from_accounts('segment_history')
    op.drop_constraint('segment_history_pkey', 'segment_history', type_='primary', schema=S)
    op.create_primary_key('segment_history_pkey', 'segment_history', ['tenant_id', 'id'], schema=S)
    op.drop_index('ix_segment_history_account', table_name='segment_history', schema=S)
    op.create_index('ix_segment_history_account', 'segment_history', ['tenant_id', 'account_id', 'id'], schema=S)

    op.alter_column('rule_sets', 'tenant', new_column_name='tenant_id', schema=S)
    op.alter_column('models', 'tenant', new_column_name='tenant_id', schema=S)


def downgrade() -> None:
    op.alter_column('models', 'tenant_id', new_column_name='tenant', schema=S)
    op.alter_column('rule_sets', 'tenant_id', new_column_name='tenant', schema=S)

    op.drop_index('ix_segment_history_account', table_name='segment_history', schema=S)
    op.create_index('ix_segment_history_account', 'segment_history', ['account_id', 'id'], schema=S)
    op.drop_constraint('segment_history_pkey', 'segment_history', type_='primary', schema=S)
    op.create_primary_key('segment_history_pkey', 'segment_history', ['id'], schema=S)
    op.drop_column('segment_history', 'tenant_id', schema=S)

    op.drop_index('ix_aging_history_account', table_name='aging_history', schema=S)
    op.create_index('ix_aging_history_account', 'aging_history', ['account_id', 'effective_on'], schema=S)
    op.drop_constraint('aging_history_pkey', 'aging_history', type_='primary', schema=S)
    op.create_primary_key('aging_history_pkey', 'aging_history', ['event_id'], schema=S)
    op.drop_column('aging_history', 'stage', schema=S)
    op.drop_column('aging_history', 'tenant_id', schema=S)

    for table, (natural, old_index, new_index) in PER_ACCOUNT.items():
        op.drop_index(new_index, table_name=table, schema=S)
        op.create_index(old_index, table, ['account_id'], schema=S)
        op.drop_constraint(f'{table}_pkey', table, type_='primary', schema=S)
        op.create_primary_key(f'{table}_pkey', table, [natural], schema=S)
        op.drop_column(table, 'tenant_id', schema=S)

    op.drop_column('accounts', 'stage', schema=S)
    op.drop_constraint('accounts_pkey', 'accounts', type_='primary', schema=S)
    op.create_primary_key('accounts_pkey', 'accounts', ['account_id'], schema=S)
    op.alter_column('accounts', 'tenant_id', new_column_name='tenant', schema=S)
    op.create_index('ix_segmentation_accounts_tenant', 'accounts', ['tenant'], schema=S)
