"""runtime tables: tenant first in every key; inbox keyed by (tenant, consumer, source, event_id)

Only calls the runtime's shared step (libs/runtime/migration_ops.py); the runtime owns these tables.

Revision ID: 8521f72bac1e
Revises: 83201af0abfa
"""
from collections.abc import Sequence

from libs.runtime.migration_ops import add_runtime_tenant_keys, drop_runtime_tenant_keys

revision: str = "8521f72bac1e"
down_revision: str | None = "83201af0abfa"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_runtime_tenant_keys("strategy")


def downgrade() -> None:
    drop_runtime_tenant_keys("strategy")
