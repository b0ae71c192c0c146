"""The ``auth`` schema's migrations build exactly ``libs.auth.orm`` (no drift), keyed by tenant first."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from libs.auth.migrations.upgrade import upgrade_auth
from libs.auth.orm import SCHEMA, metadata
from libs.runtime.db import make_engine


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
