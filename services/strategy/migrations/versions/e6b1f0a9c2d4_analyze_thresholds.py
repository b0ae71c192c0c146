"""planner statistics within seconds of a bulk load: analyse strategy's hot tables after 2 % + 50 changed rows

PostgreSQL's default (10 % + 50 rows) leaves a fresh tenant's first bulk load unanalysed for
minutes as the tables grow, so a batch's ``tenant_id = ... AND id = ANY(...)`` reads may scan the
tenant instead of using the key (docs/benchmarks.md, "Decoding and planner statistics").
Storage parameters only: no data change; the runtime's tables of this schema get the same.

Revision ID: e6b1f0a9c2d4
Revises: d8f2a6c4e913
Create Date: 2026-12-02 01:45:00
"""

from collections.abc import Sequence

from libs.runtime.migration_ops import analyse_by_default, analyse_early

revision: str = "e6b1f0a9c2d4"
down_revision: str | None = "d8f2a6c4e913"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "strategy"
TABLES = (
    "accounts",
    "account_buckets",
    "consents",
    "promises",
    "payments",
    "promise_payments",
    "contacts",
    "decisions",
    "contact_history",
    "pauses",
    "plan_treatments",
    "plans",
    "plan_payments",
    "inbox",
    "outbox",
    "timers",
)


def upgrade() -> None:
    analyse_early(S, TABLES)


def downgrade() -> None:
    analyse_by_default(S, TABLES)
