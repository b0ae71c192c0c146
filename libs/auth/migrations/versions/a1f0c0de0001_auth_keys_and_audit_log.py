"""auth: api_keys, append-only audit_log (a trigger refuses UPDATE, DELETE and TRUNCATE)

Revision ID: a1f0c0de0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a1f0c0de0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("source", sa.String(100), nullable=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "key_id"),
        schema="auth",
    )
    op.create_index("api_keys_key_id", "api_keys", ["key_id"], unique=True, schema="auth")
    op.create_index("api_keys_tenant_source", "api_keys", ["tenant_id", "source"], schema="auth")
    op.create_table(
        "audit_log",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(300), nullable=False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("role", sa.String(200), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("route", sa.String(300), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("object_ids", postgresql.JSONB(), nullable=False),
        sa.Column("before", postgresql.JSONB(), nullable=True),
        sa.Column("after", postgresql.JSONB(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("correlation_id", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        schema="auth",
    )
    op.create_index("audit_log_tenant_at", "audit_log", ["tenant_id", "at"], schema="auth")
    op.execute(
        """
        CREATE FUNCTION auth.audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'auth.audit_log is append-only (% refused)', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON auth.audit_log "
        "FOR EACH ROW EXECUTE FUNCTION auth.audit_log_is_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON auth.audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION auth.audit_log_is_append_only()"
    )
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON auth.audit_log FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_log_no_truncate ON auth.audit_log")
    op.execute("DROP TRIGGER audit_log_no_update_delete ON auth.audit_log")
    op.execute("DROP FUNCTION auth.audit_log_is_append_only()")
    op.drop_table("audit_log", schema="auth")
    op.drop_table("api_keys", schema="auth")
