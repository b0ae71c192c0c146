"""aging's tenant migration on a database holding first-wave rows: each row keeps its tenant."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy import text

from libs.platform.registry import load_spec
from libs.runtime.db import make_engine
from libs.runtime.migrations import upgrade

FIRST_WAVE = "a9905b0195cd"
T0 = datetime(2026, 1, 10, 15, tzinfo=UTC)


def test_first_wave_rows_keep_their_tenant_and_the_way_back_works(
    empty_database: str, migrate: Callable[[str, str, str, str], None]
) -> None:
    spec = load_spec("aging")
    upgrade(spec, empty_database, FIRST_WAVE)
    engine = make_engine(empty_database, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO aging.invoices (invoice_id, tenant, account_id, amount, open_amount, currency, "
                    "due_on, timezone, product_line, updated_at) VALUES "
                    "('I1', 'aseguradora', 'A1', 100, 40, 'COP', :d, 'America/Bogota', 'vida', :t), "
                    "('I2', 'default', 'A2', 50, 50, 'COP', :d, 'America/Bogota', 'vida', :t)"
                ),
                {"d": date(2026, 1, 5), "t": T0},
            )
            conn.execute(
                text(
                    "INSERT INTO aging.bucket_transitions (tenant, account_id, currency, from_bucket, to_bucket, "
                    "transitioned_on, at, dpd, overdue_amount) VALUES "
                    "('aseguradora', 'A1', 'COP', 'current', 'dpd_1_30', :d, :t, 1, 40)"
                ),
                {"d": date(2026, 1, 6), "t": T0},
            )
        upgrade(spec, empty_database)
        with engine.begin() as conn:
            rows = conn.execute(
                text("SELECT tenant_id, invoice_id, open_amount FROM aging.invoices ORDER BY 2")
            ).all()
            assert [tuple(r) for r in rows] == [("aseguradora", "I1", 40), ("default", "I2", 50)]
            moved = conn.execute(
                text("SELECT tenant_id, account_id, to_bucket FROM aging.bucket_transitions")
            ).one()
            assert tuple(moved) == ("aseguradora", "A1", "dpd_1_30")
            # the same invoice id in another tenant is another invoice now
            conn.execute(
                text(
                    "INSERT INTO aging.invoices (tenant_id, invoice_id, account_id, amount, open_amount, currency, "
                    "due_on, timezone, product_line, updated_at) VALUES "
                    "('otra', 'I1', 'A1', 7, 7, 'COP', :d, 'America/Bogota', 'vida', :t)"
                ),
                {"d": date(2026, 1, 5), "t": T0},
            )
            conn.execute(text("DELETE FROM aging.invoices WHERE tenant_id = 'otra'"))
        migrate(empty_database, "aging", "downgrade", FIRST_WAVE)
        with engine.begin() as conn:
            rows = conn.execute(text("SELECT invoice_id, tenant FROM aging.invoices ORDER BY 1")).all()
            assert [tuple(r) for r in rows] == [("I1", "aseguradora"), ("I2", "default")]
        upgrade(spec, empty_database)
    finally:
        engine.dispose()
