"""strategy: the decision log (append-only) and the contact history the contact policy reads

* ``decisions``: every planned, scheduled, moved, suppressed, cancelled, escalated, paused,
  resumed and plan decision, with its reason and detail; read per (tenant, account, time).
* ``contact_history``: per account, the last direct contact (and its channel) and the last
  telephone conversation, from notifier's ``contact.outcome``.

Revision ID: b7d41c2e9a10
Revises: b7e2c94d1a30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b7d41c2e9a10"
down_revision: str | None = "b7e2c94d1a30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "strategy"


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("decision_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("contact_id", sa.String(128), nullable=True),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", postgresql.JSONB(), nullable=False),
        sa.Column("strategy", sa.String(200), nullable=True),
        sa.Column("strategy_version", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("cause_event_id", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "decision_id"),
        schema=S,
    )
    op.create_index(
        "ix_strategy_decisions_tenant_account_at",
        "decisions",
        ["tenant_id", "account_id", "at"],
        schema=S,
    )
    op.create_table(
        "contact_history",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("direct_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("direct_channel", sa.String(16), nullable=True),
        sa.Column("conversation_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "account_id"),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("contact_history", schema=S)
    op.drop_index("ix_strategy_decisions_tenant_account_at", table_name="decisions", schema=S)
    op.drop_table("decisions", schema=S)
