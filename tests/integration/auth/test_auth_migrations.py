"""The ``auth`` schema's migrations build exactly ``libs.auth.orm`` (no drift), keyed by tenant first."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from libs.auth.migrations.upgrade import upgrade_auth
from libs.auth.orm import SCHEMA, metadata
from libs.runtime.db import login_name, make_engine


def test_auth_migrations_match_the_orm_metadata(service_database) -> None:  # type: ignore[no-untyped-def]
    url = service_database(["aging"])
    upgrade_auth(url)  # idempotent: a second run at head changes nothing
    engine = make_engine(url, service=SCHEMA, pool_size=1)
    try:
        with engine.connect() as conn:
            migration = MigrationContext.configure(
                conn,
                opts={
                    "include_schemas": True,
                    "include_name": lambda n, kind, _parents: kind != "schema" or n == SCHEMA,
                    "compare_type": True,
                },
            )
            diff = [d for d in compare_metadata(migration, metadata) if "alembic_version" not in str(d)]
        inspector = inspect(engine)
        keys = {
            t: inspector.get_pk_constraint(t, schema=SCHEMA)["constrained_columns"]
            for t in ("api_keys", "audit_log")
        }
    finally:
        engine.dispose()
    assert diff == []
    assert keys == {"api_keys": ["tenant_id", "key_id"], "audit_log": ["tenant_id", "id"]}


def test_upgrading_auth_grants_the_services_own_logins_what_the_guard_needs(service_database) -> None:  # type: ignore[no-untyped-def]
    """compose and Kubernetes: `cobranza db upgrade` runs before the auth schema exists (the first
    `cobranza auth key create` creates it), and the services connect as their own logins: those
    logins must be able to check keys and append audit rows without a second `db upgrade`."""
    url = service_database(["aging"])
    login = login_name("aging")
    admin = make_engine(url, pool_size=1)
    try:
        with admin.begin() as conn:
            if not conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": login}).scalar():
                conn.execute(text(f'CREATE ROLE "{login}" LOGIN NOINHERIT'))
            conn.execute(text(f'REVOKE ALL ON ALL TABLES IN SCHEMA auth FROM "{login}"'))
            conn.execute(text(f'REVOKE ALL ON SCHEMA auth FROM "{login}"'))

        def can(privilege: str, table: str) -> bool:
            with admin.connect() as conn:
                return bool(
                    conn.execute(
                        text("SELECT has_table_privilege(:r, :t, :p)"),
                        {"r": login, "t": table, "p": privilege},
                    ).scalar()
                )

        assert not can("SELECT", "auth.api_keys")
        upgrade_auth(url)
        assert can("SELECT", "auth.api_keys") and can("INSERT", "auth.audit_log")
        assert not can("UPDATE", "auth.audit_log") and not can("DELETE", "auth.api_keys")
    finally:
        admin.dispose()
