"""strategy treatment: collection pauses, the plan an (account, currency) is on, versioned playbooks

* ``pauses``: one row per pause; the account is paused while one has ``ended_at`` NULL.
* ``plan_treatments``: the payment plan an (account, currency) is on (its reminders replace dunning).
* ``strategy_versions``: every version of every playbook, one active per (tenant, name); the
  packaged playbooks become version 1 the first time a tenant plans (no rows are written here).
* ``contacts.strategy_version``: the playbook version that planned the contact (NULL before).

Revision ID: b7e2c94d1a30
Revises: 40504f5a38e9
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b7e2c94d1a30"
down_revision: str | None = "40504f5a38e9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "strategy"


def upgrade() -> None:
    op.add_column("contacts", sa.Column("strategy_version", sa.Integer(), nullable=True), schema=S)
    op.create_table(
        "pauses",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("pause_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("agent_id", sa.String(length=128), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=16), nullable=True),
        sa.Column("resumed_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "pause_id"),
        schema=S,
    )
    op.create_index(
        "ix_strategy_pauses_tenant_account", "pauses", ["tenant_id", "account_id", "ended_at"], schema=S
    )
    op.create_table(
        "plan_treatments",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("plan_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "account_id", "currency"),
        schema=S,
    )
    op.create_table(
        "strategy_versions",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "name", "version"),
        schema=S,
    )
    op.create_index(
        "ix_strategy_versions_tenant_active",
        "strategy_versions",
        ["tenant_id", "name"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("active"),
    )


def downgrade() -> None:
    op.drop_index("ix_strategy_versions_tenant_active", table_name="strategy_versions", schema=S)
    op.drop_table("strategy_versions", schema=S)
    op.drop_table("plan_treatments", schema=S)
    op.drop_index("ix_strategy_pauses_tenant_account", table_name="pauses", schema=S)
    op.drop_table("pauses", schema=S)
    op.drop_column("contacts", "strategy_version", schema=S)
