"""runtime tables: tenant first in every key; inbox keyed by (tenant, consumer, source, event_id)

Only calls the runtime's shared step (libs/runtime/migration_ops.py); the runtime owns these tables.

Revision ID: bcef741ebe23
Revises: dbf2f39c099a
"""
from collections.abc import Sequence

from libs.runtime.migration_ops import add_runtime_tenant_keys, drop_runtime_tenant_keys

revision: str = "bcef741ebe23"
down_revision: str | None = "dbf2f39c099a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_runtime_tenant_keys("segmentation")


def downgrade() -> None:
    drop_runtime_tenant_keys("segmentation")
