"""tenant_id first in every key

Rows written before this revision belong to the default tenant.

Revision ID: 9a4c2e7b1f63
Revises: c948b0a1271f
Create Date: 2026-12-01 19:25:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '9a4c2e7b1f63'
down_revision: str | None = 'c948b0a1271f'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = 'notifier'


def _add_tenant(table: str) -> None:
    op.add_column(
        table, sa.Column('tenant_id', sa.String(length=64), nullable=False, server_default='default'), schema=S
    )
    op.alter_column(table, 'tenant_id', server_default=None, schema=S)


def upgrade() -> None:
    _add_tenant('recipients')
    op.drop_constraint('recipients_pkey', 'recipients', type_='primary', schema=S)
    op.create_primary_key('recipients_pkey', 'recipients', ['tenant_id', 'account_id'], schema=S)

    _add_tenant('tasks')
    op.drop_constraint('tasks_pkey', 'tasks', type_='primary', schema=S)
    op.create_primary_key('tasks_pkey', 'tasks', ['tenant_id', 'contact_id'], schema=S)
    op.drop_index('ix_notifier_tasks_account_id', table_name='tasks', schema=S)
    op.drop_index('ix_notifier_tasks_channel', table_name='tasks', schema=S)
    op.create_index('ix_notifier_tasks_account', 'tasks', ['tenant_id', 'account_id'], schema=S)
    op.create_index('ix_notifier_tasks_queue', 'tasks', ['tenant_id', 'channel', 'status'], schema=S)


def downgrade() -> None:
    op.drop_index('ix_notifier_tasks_queue', table_name='tasks', schema=S)
    op.drop_index('ix_notifier_tasks_account', table_name='tasks', schema=S)
    op.create_index('ix_notifier_tasks_channel', 'tasks', ['channel'], schema=S)
    op.create_index('ix_notifier_tasks_account_id', 'tasks', ['account_id'], schema=S)
    op.drop_constraint('tasks_pkey', 'tasks', type_='primary', schema=S)
    op.create_primary_key('tasks_pkey', 'tasks', ['contact_id'], schema=S)
    op.drop_column('tasks', 'tenant_id', schema=S)
    op.drop_constraint('recipients_pkey', 'recipients', type_='primary', schema=S)
    op.create_primary_key('recipients_pkey', 'recipients', ['account_id'], schema=S)
    op.drop_column('recipients', 'tenant_id', schema=S)
