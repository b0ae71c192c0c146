"""segmentation's tenant migration on a database holding first-wave rows: each row keeps its tenant."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from alembic import command
from sqlalchemy import text

from libs.platform.registry import load_spec
from libs.runtime.db import drop_database, ensure_database, make_engine, with_database
from libs.runtime.migrations import alembic_config, upgrade

FIRST_WAVE = "dbf2f39c099a"
T0 = datetime(2026, 1, 10, 15, tzinfo=UTC)


@pytest.fixture
def legacy_url(pg_server: str) -> Iterator[str]:
    name = f"cobranza_segmentation_mig_{uuid.uuid4().hex[:8]}"
    ensure_database(pg_server, name)
    yield with_database(pg_server, name)
    drop_database(pg_server, name)


def test_first_wave_rows_take_their_accounts_tenant_and_the_way_back_works(legacy_url: str) -> None:
    spec = load_spec("segmentation")
    upgrade(spec, legacy_url, FIRST_WAVE)
    engine = make_engine(legacy_url, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO segmentation.accounts (account_id, tenant, currency, total_balance, updated_at) "
                    "VALUES ('A1', 'aseguradora', 'COP', 100, :t), ('A2', 'default', 'COP', 0, :t)"
                ),
                {"t": T0},
            )
            conn.execute(
                text(
                    "INSERT INTO segmentation.invoices (invoice_id, account_id, amount, currency, issued_on, due_on) "
                    "VALUES ('I1', 'A1', 100, 'COP', :d, :d), ('I2', 'A2', 50, 'COP', :d, :d)"
                ),
                {"d": date(2026, 1, 5)},
            )
            conn.execute(
                text(
                    "INSERT INTO segmentation.payments (payment_id, account_id, amount, currency, received_on, "
                    "on_time) VALUES ('P1', 'A1', 10, 'COP', :d, true)"
                ),
                {"d": date(2026, 1, 6)},
            )
            conn.execute(
                text(
                    "INSERT INTO segmentation.segment_history (account_id, segment, rule, rules_version, reasons, "
                    "changed_at) VALUES ('A1', 'current_good', 'current_good', '2026.01', '[]', :t)"
                ),
                {"t": T0},
            )
        upgrade(spec, legacy_url)
        with engine.begin() as conn:
            invoices = conn.execute(
                text("SELECT tenant_id, invoice_id, account_id FROM segmentation.invoices ORDER BY 2")
            ).all()
            assert [tuple(r) for r in invoices] == [("aseguradora", "I1", "A1"), ("default", "I2", "A2")]
            payments = conn.execute(text("SELECT tenant_id, payment_id FROM segmentation.payments")).all()
            assert [tuple(r) for r in payments] == [("aseguradora", "P1")]
            history = conn.execute(
                text("SELECT tenant_id, account_id FROM segmentation.segment_history")
            ).one()
            assert tuple(history) == ("aseguradora", "A1")
            account = conn.execute(
                text(
                    "SELECT tenant_id, credit_balance, stage FROM segmentation.accounts WHERE account_id = 'A1'"
                )
            ).one()
            assert tuple(account) == ("aseguradora", 0, None)
            # the same ids in another tenant are other rows now
            conn.execute(
                text(
                    "INSERT INTO segmentation.invoices (tenant_id, invoice_id, account_id, amount, currency, "
                    "issued_on, due_on) VALUES ('otra', 'I1', 'A1', 7, 'COP', :d, :d)"
                ),
                {"d": date(2026, 1, 5)},
            )
            conn.execute(text("DELETE FROM segmentation.invoices WHERE tenant_id = 'otra'"))
        service_engine = make_engine(legacy_url, service="segmentation", pool_size=1)
        try:
            with service_engine.begin() as connection:
                cfg = alembic_config(spec)
                cfg.attributes["connection"] = connection
                command.downgrade(cfg, FIRST_WAVE)
        finally:
            service_engine.dispose()
        with engine.begin() as conn:
            rows = conn.execute(
                text("SELECT invoice_id, account_id FROM segmentation.invoices ORDER BY 1")
            ).all()
            assert [tuple(r) for r in rows] == [("I1", "A1"), ("I2", "A2")]
            tenant = conn.execute(
                text("SELECT tenant FROM segmentation.accounts WHERE account_id = 'A1'")
            ).scalar()
            assert tenant == "aseguradora"
        upgrade(spec, legacy_url)
    finally:
        engine.dispose()
