"""runtime tables: tenant first in every key; inbox keyed by (tenant, consumer, source, event_id)

Only calls the runtime's shared step (libs/runtime/migration_ops.py); the runtime owns these tables.

Revision ID: 8e768755261f
Revises: 39a860c4ac3d
"""
from collections.abc import Sequence

from libs.runtime.migration_ops import add_runtime_tenant_keys, drop_runtime_tenant_keys

revision: str = "8e768755261f"
down_revision: str | None = "39a860c4ac3d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_runtime_tenant_keys("reporting")


def downgrade() -> None:
    drop_runtime_tenant_keys("reporting")
