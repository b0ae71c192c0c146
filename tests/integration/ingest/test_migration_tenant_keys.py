"""ingest's tenant/canonical-id migration on a database that already holds data: nothing is lost,
old rows belong to the default tenant, and an id two sources already reused gets a canonical id each."""

from __future__ import annotations

from sqlalchemy import text

from libs.platform.registry import load_spec
from libs.runtime.db import make_engine
from libs.runtime.migrations import upgrade

INITIAL = "d3d99c6d90a7"


def test_existing_rows_get_the_default_tenant_and_canonical_ids(empty_database: str) -> None:
    spec = load_spec("ingest")
    upgrade(spec, empty_database, INITIAL)
    engine = make_engine(empty_database, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO ingest.received (source, kind, external_id, event_id, received_at, account_id)"
                    " VALUES ('core', 'invoice', 'INV-1', 'e1', '2026-01-01', 'A1'),"
                    "        ('billing', 'invoice', 'INV-1', 'e2', '2026-01-02', 'A2'),"
                    "        ('billing', 'payment', 'PAY-1', 'e3', '2026-01-02', 'A2')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO ingest.customers (source, source_customer_id, customer_id, updated_at)"
                    " VALUES ('core', 'C1', 'C1', '2026-01-01')"
                )
            )
        upgrade(spec, empty_database)
        with engine.begin() as conn:
            rows = conn.execute(
                text(
                    "SELECT tenant_id, source, external_id, canonical_id FROM ingest.received ORDER BY event_id"
                )
            ).all()
            customers = conn.execute(text("SELECT tenant_id, customer_id FROM ingest.customers")).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("default", "core", "INV-1", "INV-1"),
        ("default", "billing", "INV-1", "billing:INV-1"),
        ("default", "billing", "PAY-1", "PAY-1"),
    ]
    assert [tuple(r) for r in customers] == [("default", "C1")]
