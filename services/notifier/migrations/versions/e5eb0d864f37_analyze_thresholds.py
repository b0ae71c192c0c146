"""planner statistics within seconds of a bulk load: analyse the hot tables after 2 % + 50 changed rows

PostgreSQL's default (10 % + 50 rows) leaves a fresh tenant's first bulk load unanalysed for
minutes, so ``tenant_id = ... AND id = ANY(...)`` scans the tenant instead of using the key
(docs/benchmarks.md, "Decoding and planner statistics"). Storage parameters only: no data change,
and the runtime's tables of this schema (created by this service's first revision) get the same.

Revision ID: e5eb0d864f37
Revises: 9a4c2e7b1f63
Create Date: 2026-12-02 01:20:00
"""

from collections.abc import Sequence

from libs.runtime.migration_ops import analyse_by_default, analyse_early

revision: str = "e5eb0d864f37"
down_revision: str | None = "9a4c2e7b1f63"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "notifier"
TABLES = (
    "tasks",
    "recipients",
    "inbox",
    "outbox",
    "timers",
)


def upgrade() -> None:
    analyse_early(S, TABLES)


def downgrade() -> None:
    analyse_by_default(S, TABLES)
