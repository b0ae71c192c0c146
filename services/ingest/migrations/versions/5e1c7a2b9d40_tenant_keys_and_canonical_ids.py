"""tenant first in every key; canonical document ids

Every ingest table gets ``tenant_id`` as the first column of its primary key (rows already
there belong to the ``default`` tenant). ``received`` records the canonical id minted for each
(tenant, source, kind, external id): rows already there keep their natural id for the source that
sent it first and become ``<source>:<id>`` for any later source that reused it. An invoice or
payment canonical id is unique per tenant.

Revision ID: 5e1c7a2b9d40
Revises: d3d99c6d90a7
Create Date: 2026-12-01 18:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e1c7a2b9d40"
down_revision: str | None = "d3d99c6d90a7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "ingest"
KEYS = {
    "received": ("source", "kind", "external_id"),
    "idempotency_keys": ("source", "key"),
    "customers": ("source", "source_customer_id"),
    "reference_entities": ("entity_type", "entity_id"),
}
CUSTOMER_INDEXES = ("customer_id", "document_id", "email", "phone")


def upgrade() -> None:
    for table, key in KEYS.items():
        op.add_column(
            table,
            sa.Column("tenant_id", sa.String(64), nullable=False, server_default="default"),
            schema=SCHEMA,
        )
        op.alter_column(table, "tenant_id", server_default=None, schema=SCHEMA)
        op.drop_constraint(f"{table}_pkey", table, type_="primary", schema=SCHEMA)
        op.create_primary_key(f"{table}_pkey", table, ["tenant_id", *key], schema=SCHEMA)
    for table in ("received", "idempotency_keys", "customers"):
        op.alter_column(table, "source", type_=sa.String(500), existing_nullable=False, schema=SCHEMA)
    op.alter_column("received", "external_id", type_=sa.String(300), existing_nullable=False, schema=SCHEMA)
    op.add_column("received", sa.Column("canonical_id", sa.String(300), nullable=True), schema=SCHEMA)
    op.execute(
        """
        UPDATE ingest.received r
           SET canonical_id = CASE WHEN ranked.n = 1 THEN r.external_id
                                   ELSE r.source || ':' || r.external_id END
          FROM (SELECT tenant_id, source, kind, external_id,
                       row_number() OVER (PARTITION BY tenant_id, kind, external_id
                                          ORDER BY received_at, source) AS n
                  FROM ingest.received) ranked
         WHERE (r.tenant_id, r.source, r.kind, r.external_id)
             = (ranked.tenant_id, ranked.source, ranked.kind, ranked.external_id)
        """
    )
    op.alter_column("received", "canonical_id", nullable=False, schema=SCHEMA)
    op.create_index(
        "uq_received_canonical",
        "received",
        ["tenant_id", "kind", "canonical_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("kind IN ('invoice', 'payment')"),
    )
    for column in CUSTOMER_INDEXES:
        op.drop_index(f"ix_customers_{column}", table_name="customers", schema=SCHEMA)
        op.create_index(f"ix_customers_{column}", "customers", ["tenant_id", column], schema=SCHEMA)


def downgrade() -> None:
    for column in CUSTOMER_INDEXES:
        op.drop_index(f"ix_customers_{column}", table_name="customers", schema=SCHEMA)
        op.create_index(f"ix_customers_{column}", "customers", [column], schema=SCHEMA)
    op.drop_index("uq_received_canonical", table_name="received", schema=SCHEMA)
    op.drop_column("received", "canonical_id", schema=SCHEMA)
    op.alter_column("received", "external_id", type_=sa.String(200), existing_nullable=False, schema=SCHEMA)
    for table in ("received", "idempotency_keys", "customers"):
        op.alter_column(table, "source", type_=sa.String(200), existing_nullable=False, schema=SCHEMA)
    for table, key in KEYS.items():
        op.execute(f"DELETE FROM {SCHEMA}.{table} WHERE tenant_id <> 'default'")
        op.drop_constraint(f"{table}_pkey", table, type_="primary", schema=SCHEMA)
        op.create_primary_key(f"{table}_pkey", table, list(key), schema=SCHEMA)
        op.drop_column(table, "tenant_id", schema=SCHEMA)
