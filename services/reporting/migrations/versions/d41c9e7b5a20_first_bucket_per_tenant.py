"""the tenant's first bucket, learned from aging's events, for accounts aging never announced

Aging announces bucket changes only, so an (account, currency) that was always current has no
bucket in reporting. ``first_buckets`` holds each tenant's first bucket (learned, never
hard-coded) and ``v_account_balances`` shows it for those accounts.

Revision ID: d41c9e7b5a20
Revises: b7d4e2a91c3f
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d41c9e7b5a20"
down_revision: str | None = "b7d4e2a91c3f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "reporting"

PORTFOLIO_SQL = """
CREATE VIEW reporting.v_portfolio AS
SELECT tenant_id, bucket, stage, product_line, advisor_id, office_id, agency_id, currency,
       COUNT(*) AS accounts, SUM(open_amount) AS open_amount, SUM(credit_balance) AS credit_balance,
       SUM(balance) AS balance
FROM reporting.v_account_balances
GROUP BY tenant_id, bucket, stage, product_line, advisor_id, office_id, agency_id, currency
"""

BALANCES_SQL = """
CREATE VIEW reporting.v_account_balances AS
SELECT a.tenant_id, a.account_id, a.currency,
       {bucket} AS bucket, {stage} AS stage, a.days_past_due,
       a.product_line, a.advisor_id, a.office_id, a.agency_id,
       COALESCE(i.invoiced, 0) AS invoiced,
       COALESCE(i.open_amount, 0) AS open_amount,
       a.credit_balance,
       COALESCE(i.open_amount, 0) - a.credit_balance AS balance
FROM reporting.accounts a
LEFT JOIN (SELECT tenant_id, account_id, currency,
                  SUM(amount) AS invoiced, SUM(open_amount) AS open_amount
           FROM reporting.invoices WHERE status = 'open'
           GROUP BY tenant_id, account_id, currency) i
       ON i.tenant_id = a.tenant_id AND i.account_id = a.account_id AND i.currency = a.currency
{join}
"""

NEW_BALANCES_SQL = BALANCES_SQL.format(
    bucket="COALESCE(a.bucket, f.bucket)",
    stage="CASE WHEN a.bucket IS NULL THEN f.stage ELSE a.stage END",
    join="LEFT JOIN reporting.first_buckets f ON f.tenant_id = a.tenant_id",
)
OLD_BALANCES_SQL = BALANCES_SQL.format(bucket="a.bucket", stage="a.stage", join="")


def _replace_views(balances_sql: str) -> None:
    op.execute(f"DROP VIEW IF EXISTS {S}.v_portfolio")
    op.execute(f"DROP VIEW IF EXISTS {S}.v_account_balances")
    op.execute(balances_sql)
    op.execute(PORTFOLIO_SQL)


def upgrade() -> None:
    op.create_table(
        "first_buckets",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("bucket", sa.String(200), nullable=False),
        sa.Column("stage", sa.String(200), nullable=True),
        sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
        schema=S,
        comment="the first bucket of each tenant's scheme, learned from aging's events (it is never announced)",
    )
    _replace_views(NEW_BALANCES_SQL)


def downgrade() -> None:
    _replace_views(OLD_BALANCES_SQL)
    op.drop_table("first_buckets", schema=S)
