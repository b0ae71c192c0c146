"""strategy: consents remember when the debtor consented and when they opted out

A re-sent customer record carrying an old ``consent: true`` must not undo a STOP reply: only a
consent given after the withdrawal (``contact_points[].consent_updated_at``) turns a channel back on.

Revision ID: d8f2a6c4e913
Revises: c3a9e5f17b42
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d8f2a6c4e913"
down_revision: str | None = "c3a9e5f17b42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "strategy"


def upgrade() -> None:
    op.add_column("consents", sa.Column("consented_at", sa.DateTime(timezone=True)), schema=S)
    op.add_column("consents", sa.Column("withdrawn_at", sa.DateTime(timezone=True)), schema=S)


def downgrade() -> None:
    op.drop_column("consents", "withdrawn_at", schema=S)
    op.drop_column("consents", "consented_at", schema=S)
