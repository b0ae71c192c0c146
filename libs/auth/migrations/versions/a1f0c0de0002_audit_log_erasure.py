"""auth: the one change the append-only audit log accepts: erasing a data subject's personal data

``auth.erase_personal_data(tenant, customer_ids, account_ids)`` (habeas data, Ley 1581 de 2012;
GDPR art. 17) replaces ``before``/``after`` of the rows about those customers with an erasure
marker and removes the free-text fields people type from the rows about their accounts; every
other column stays as written. The trigger lets an UPDATE through only inside that function
(a transaction-local setting it raises) and only when nothing but ``before``/``after`` changes;
DELETE and TRUNCATE stay refused. Service roles have no UPDATE privilege on the table at all.

Revision ID: a1f0c0de0002
Revises: a1f0c0de0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a1f0c0de0002"
down_revision: str | None = "a1f0c0de0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEPT = "tenant_id, id, at, actor, actor_kind, role, service, method, route, path, object_ids, status, correlation_id"


def upgrade() -> None:
    old = ", ".join(f"OLD.{c.strip()}" for c in _KEPT.split(","))
    new = ", ".join(f"NEW.{c.strip()}" for c in _KEPT.split(","))
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION auth.audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND current_setting('cobranza.audit_erasure', true) = 'on'
               AND ROW({new}) IS NOT DISTINCT FROM ROW({old}) THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'auth.audit_log is append-only (% refused)', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION auth.erase_personal_data(p_tenant text, p_customers text[], p_accounts text[])
        RETURNS integer LANGUAGE plpgsql SET search_path = auth, pg_temp AS $$
        DECLARE
            marker constant jsonb := '{"erased": "habeas_data"}';
            about_customer integer;
            about_accounts integer;
        BEGIN
            PERFORM set_config('cobranza.audit_erasure', 'on', true);
            UPDATE auth.audit_log
               SET before = CASE WHEN coalesce(before, 'null') = 'null' THEN before ELSE marker END,
                   after = CASE WHEN coalesce(after, 'null') = 'null' THEN after ELSE marker END
             WHERE tenant_id = p_tenant
               AND (object_ids->>'customer_id' = ANY(p_customers)
                    OR object_ids->>'source_customer_id' = ANY(p_customers))
               AND (coalesce(before, 'null') NOT IN ('null', marker)
                    OR coalesce(after, 'null') NOT IN ('null', marker));
            GET DIAGNOSTICS about_customer = ROW_COUNT;
            UPDATE auth.audit_log
               SET before = before #- '{suspense,reference}' #- '{detail}',
                   after = after #- '{requested,note}' #- '{published,note}' #- '{requested,detail}'
                                 #- '{task,detail}' #- '{reason}' #- '{user}'
             WHERE tenant_id = p_tenant
               AND object_ids->>'account_id' = ANY(p_accounts)
               AND NOT (object_ids ? 'customer_id' OR object_ids ? 'source_customer_id')
               AND (before IS DISTINCT FROM before #- '{suspense,reference}' #- '{detail}'
                    OR after IS DISTINCT FROM after #- '{requested,note}' #- '{published,note}'
                         #- '{requested,detail}' #- '{task,detail}' #- '{reason}' #- '{user}');
            GET DIAGNOSTICS about_accounts = ROW_COUNT;
            PERFORM set_config('cobranza.audit_erasure', 'off', true);
            RETURN about_customer + about_accounts;
        END $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION auth.erase_personal_data(text, text[], text[]) FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP FUNCTION auth.erase_personal_data(text, text[], text[])")
    op.execute(
        """
        CREATE OR REPLACE FUNCTION auth.audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'auth.audit_log is append-only (% refused)', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
