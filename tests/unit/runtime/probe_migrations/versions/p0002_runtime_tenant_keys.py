"""probe: the runtime's tenant keys step, as every service takes it

Revision ID: p0002
Revises: p0001
"""

from collections.abc import Sequence

from libs.runtime.migration_ops import add_runtime_tenant_keys, drop_runtime_tenant_keys

revision: str = "p0002"
down_revision: str | None = "p0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_runtime_tenant_keys("probe")


def downgrade() -> None:
    drop_runtime_tenant_keys("probe")
