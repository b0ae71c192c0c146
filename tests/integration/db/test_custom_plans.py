"""Every service connection plans each statement for its own parameters (docs/operations.md,
"PostgreSQL connections"): a generic plan of a batch read made on a small table's statistics
scanned the whole table once it had grown."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from libs.platform.databases import migrate_all
from libs.platform.registry import load_spec
from libs.runtime.db import make_engine


@pytest.mark.parametrize("owner", [False, True])
def test_a_service_engine_never_switches_to_generic_plans(empty_database: str, owner: bool) -> None:
    migrate_all([load_spec("segmentation")], empty_database)
    engine = make_engine(empty_database, service="segmentation", pool_size=1, owner=owner)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
            assert conn.execute(text("SHOW application_name")).scalar() == "cobranza-segmentation"
    finally:
        engine.dispose()
