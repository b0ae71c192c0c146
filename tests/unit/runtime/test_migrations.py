"""Every service's migrations build exactly the tables its code declares (no drift, nothing forgotten)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from libs.platform.registry import SERVICE_NAMES, load_spec
from libs.runtime.context import ServiceContext


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
