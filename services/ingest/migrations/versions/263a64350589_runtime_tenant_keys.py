"""runtime tables: tenant first in every key; inbox keyed by (tenant, consumer, source, event_id)

Only calls the runtime's shared step (libs/runtime/migration_ops.py); the runtime owns these tables.

Revision ID: 263a64350589
Revises: 5e1c7a2b9d40
"""
from collections.abc import Sequence

from libs.runtime.migration_ops import add_runtime_tenant_keys, drop_runtime_tenant_keys

revision: str = "263a64350589"
down_revision: str | None = "5e1c7a2b9d40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_runtime_tenant_keys("ingest")


def downgrade() -> None:
    drop_runtime_tenant_keys("ingest")
