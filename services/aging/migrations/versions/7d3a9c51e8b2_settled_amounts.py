"""invoices keep what is settled apart from the billed amount (open amounts in any arrival order)

``invoices.settled`` / ``settled_at``: reconciliation's latest ``invoice_settled_after`` and the time
of the event that said it; existing rows get ``amount - open_amount`` (what the first-wave rule
took as paid). ``early_open_amounts`` keeps the allocation's ``settled`` and time beside its open amount.

Revision ID: 7d3a9c51e8b2
Revises: c766dd602787
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d3a9c51e8b2"
down_revision: str | None = "c766dd602787"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "aging"


def upgrade() -> None:
    op.add_column(
        "invoices",
        sa.Column(
            "settled",
            sa.Numeric(18, 4),
            nullable=False,
            server_default=sa.text("0"),
            comment="cash and write-offs settled, as reconciliation's latest allocation says",
        ),
        schema=S,
    )
    op.add_column(
        "invoices",
        sa.Column(
            "settled_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="time of the allocation event that set settled",
        ),
        schema=S,
    )
    op.execute(f"UPDATE {S}.invoices SET settled = amount - open_amount")
    op.add_column(
        "early_open_amounts",
        sa.Column(
            "settled",
            sa.Numeric(18, 4),
            nullable=True,
            comment="the allocation's invoice_settled_after, when it had one",
        ),
        schema=S,
    )
    op.add_column(
        "early_open_amounts",
        sa.Column("at", sa.DateTime(timezone=True), nullable=True, comment="the allocation event's time"),
        schema=S,
    )


def downgrade() -> None:
    op.drop_column("early_open_amounts", "at", schema=S)
    op.drop_column("early_open_amounts", "settled", schema=S)
    op.drop_column("invoices", "settled_at", schema=S)
    op.drop_column("invoices", "settled", schema=S)
