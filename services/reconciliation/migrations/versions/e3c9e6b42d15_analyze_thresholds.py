"""planner statistics within seconds of a bulk load: analyse the hot tables after 2 % + 50 changed rows

PostgreSQL's default (10 % + 50 rows) leaves a fresh tenant's first bulk load unanalysed for
minutes, so ``tenant_id = ... AND id = ANY(...)`` scans the tenant instead of using the key
(docs/benchmarks.md, "Decoding and planner statistics"). Storage parameters only: no data change,
and the runtime's tables of this schema (created by this service's first revision) get the same.

Revision ID: e3c9e6b42d15
Revises: 9d4e2a7c1b36
Create Date: 2026-12-02 01:20:00
"""

from collections.abc import Sequence

from libs.runtime.migration_ops import analyse_by_default, analyse_early

revision: str = "e3c9e6b42d15"
down_revision: str | None = "9d4e2a7c1b36"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "reconciliation"
TABLES = (
    "accounts",
    "invoices",
    "payments",
    "allocations",
    "credits",
    "inbox",
    "outbox",
    "timers",
)


def upgrade() -> None:
    analyse_early(S, TABLES)


def downgrade() -> None:
    analyse_by_default(S, TABLES)
