"""Every service's migrations build exactly the tables its code declares (no drift, nothing forgotten)."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from runtime_probe import probe_spec
from sqlalchemy import inspect

from libs.platform.databases import fresh_database
from libs.platform.registry import SERVICE_NAMES, load_spec
from libs.runtime.context import ServiceContext
from libs.runtime.db import drop_database, make_engine


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_migrations_match_the_orm_metadata(service_database, name: str) -> None:  # type: ignore[no-untyped-def]
    spec = load_spec(name)
    ctx = ServiceContext.create(spec, service_database([name]), pool_size=1)
    try:
        with ctx.engine.connect() as conn:
            migration = MigrationContext.configure(
                conn,
                opts={
                    "include_schemas": True,
                    "include_name": lambda n, kind, _parents: kind != "schema" or n == spec.name,
                    "compare_type": True,
                },
            )
            diff = [d for d in compare_metadata(migration, spec.metadata) if "alembic_version" not in str(d)]
    finally:
        ctx.dispose()
    assert diff == [], (
        f"{name}: migrations and ORM metadata differ; regenerate with scripts/make_migration.py"
    )


def _runtime_keys(url: str, schema: str) -> dict[str, list[str]]:
    engine = make_engine(url, pool_size=1)
    try:
        inspector = inspect(engine)
        return {
            name: inspector.get_pk_constraint(name, schema=schema)["constrained_columns"]
            for name in ("inbox", "outbox", "timers")
        }
    finally:
        engine.dispose()


EXPECTED_RUNTIME_KEYS = {
    "inbox": ["tenant_id", "consumer", "source", "event_id"],
    "outbox": ["tenant_id", "id"],
    "timers": ["tenant_id", "name", "key"],
}


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_every_service_migrates_the_runtime_tables_to_tenant_keys(service_database, name: str) -> None:  # type: ignore[no-untyped-def]
    """Primary keys are invisible to autogenerate's comparison, so they are checked here."""
    assert _runtime_keys(service_database([name]), name) == EXPECTED_RUNTIME_KEYS


def test_the_runtime_steps_build_exactly_the_runtime_tables(pg_server: str) -> None:
    """On the probe service (nothing but the runtime's steps): initial op, then the tenant keys op."""
    spec = probe_spec()
    db = f"cobranza_probe_mig_{uuid.uuid4().hex[:8]}"
    url = fresh_database(pg_server, [spec], db)
    ctx = ServiceContext.create(spec, url, pool_size=1)
    try:
        with ctx.engine.connect() as conn:
            migration = MigrationContext.configure(
                conn,
                opts={
                    "include_schemas": True,
                    "include_name": lambda n, kind, _parents: kind != "schema" or n == "probe",
                    "compare_type": True,
                },
            )
            diff = [d for d in compare_metadata(migration, spec.metadata) if "alembic_version" not in str(d)]
        assert diff == []
        assert _runtime_keys(url, "probe") == EXPECTED_RUNTIME_KEYS
        assert [c.name for c in spec.tables.inbox.primary_key] == EXPECTED_RUNTIME_KEYS["inbox"]
    finally:
        ctx.dispose()
        drop_database(pg_server, db)
