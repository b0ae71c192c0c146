"""probe: runtime tables as first released, and the table the probe records into

Revision ID: p0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from libs.runtime.migration_ops import create_runtime_tables, drop_runtime_tables

revision: str = "p0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_runtime_tables("probe")
    op.create_table(
        "seen",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("entity_id", sa.String(200), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "seq"),
        schema="probe",
    )


def downgrade() -> None:
    op.drop_table("seen", schema="probe")
    drop_runtime_tables("probe")
