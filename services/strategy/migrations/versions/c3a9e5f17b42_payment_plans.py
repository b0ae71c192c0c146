"""strategy: payment plans (acuerdos de pago), the payments applied to them, the maximum rates

* ``plans``: the terms of each plan (the schedule is recomputed from them), status, zone, country.
* ``plan_payments``: what reconciliation applied to a plan's (account, currency), and reversals.
* ``max_rates``: per tenant and country the maximum annual effective rate in force (tasa de usura).

Revision ID: c3a9e5f17b42
Revises: b7d41c2e9a10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c3a9e5f17b42"
down_revision: str | None = "b7d41c2e9a10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "strategy"


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("plan_id", sa.String(128), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.Numeric(18, 4), nullable=False),
        sa.Column("down_payment", sa.Numeric(18, 4), nullable=False),
        sa.Column("instalments", sa.Integer(), nullable=False),
        sa.Column("frequency", sa.String(16), nullable=False),
        sa.Column("first_due_on", sa.Date(), nullable=False),
        sa.Column("agreed_on", sa.Date(), nullable=False),
        sa.Column("financing_rate", sa.Numeric(12, 8), nullable=True),
        sa.Column("late_interest_rate", sa.Numeric(12, 8), nullable=True),
        sa.Column("agent_id", sa.String(128), nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolved_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "plan_id"),
        schema=S,
    )
    op.create_index(
        "ix_strategy_plans_tenant_account", "plans", ["tenant_id", "account_id", "currency"], schema=S
    )
    op.create_table(
        "plan_payments",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("plan_id", sa.String(128), nullable=False),
        sa.Column("payment_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(18, 4), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "plan_id", "payment_id", "kind"),
        schema=S,
    )
    op.create_table(
        "max_rates",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("rate", sa.Numeric(12, 8), nullable=False),
        sa.Column("resolution", sa.String(200), nullable=True),
        sa.Column("loaded_by", sa.String(128), nullable=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "country", "valid_from"),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("max_rates", schema=S)
    op.drop_table("plan_payments", schema=S)
    op.drop_index("ix_strategy_plans_tenant_account", table_name="plans", schema=S)
    op.drop_table("plans", schema=S)
