"""runtime tables: tenant first in every key; inbox keyed by (tenant, consumer, source, event_id)

Only calls the runtime's shared step (libs/runtime/migration_ops.py); the runtime owns these tables.

Revision ID: c766dd602787
Revises: 5b1e7c2a9d40
"""
from collections.abc import Sequence

from libs.runtime.migration_ops import add_runtime_tenant_keys, drop_runtime_tenant_keys

revision: str = "c766dd602787"
down_revision: str | None = "5b1e7c2a9d40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_runtime_tenant_keys("aging")


def downgrade() -> None:
    drop_runtime_tenant_keys("aging")
