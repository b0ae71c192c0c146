"""strategy's tenant migration on a database holding first-wave rows: nothing planned is lost."""

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

FIRST_WAVE = "83201af0abfa"
T0 = datetime(2026, 1, 10, 15, tzinfo=UTC)


@pytest.fixture
def legacy_url(pg_server: str) -> Iterator[str]:
    name = f"cobranza_strategy_mig_{uuid.uuid4().hex[:8]}"
    ensure_database(pg_server, name)
    yield with_database(pg_server, name)
    drop_database(pg_server, name)


def test_first_wave_rows_land_in_tenant_default_with_their_currency(legacy_url: str) -> None:
    spec = load_spec("strategy")
    upgrade(spec, legacy_url, FIRST_WAVE)
    engine = make_engine(legacy_url, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO strategy.accounts (account_id, bucket, updated_at) VALUES "
                    "('A1', 'dpd_1_30', :t), ('A2', 'current', :t)"
                ),
                {"t": T0},
            )
            conn.execute(
                text(
                    "INSERT INTO strategy.promises (promise_id, account_id, amount, paid_amount, currency, "
                    "due_on, made_on, deadline, status) VALUES "
                    "('P1', 'A1', 100, 40, 'USD', :d, :d, :t, 'open')"
                ),
                {"d": date(2026, 1, 20), "t": T0},
            )
            conn.execute(
                text(
                    "INSERT INTO strategy.contacts (contact_id, account_id, channel, kind, playbook, step, "
                    "template, language, planned_for, status) VALUES "
                    "('K1', 'A1', 'email', 'dunning', 'default', 'aviso_mora', 'aviso_mora', 'es', :t, 'planned'),"
                    "('K2', 'A2', 'email', 'pre_due', 'default', 'previo', 'previo', 'es', :t, 'planned')"
                ),
                {"t": T0},
            )
        upgrade(spec, legacy_url)
        with engine.begin() as conn:
            buckets = conn.execute(
                text(
                    "SELECT tenant_id, account_id, currency, bucket, cured FROM strategy.account_buckets ORDER BY 2"
                )
            ).all()
            assert [tuple(r) for r in buckets] == [
                ("default", "A1", "USD", "dpd_1_30", False),
                ("default", "A2", "XXX", "current", True),
            ]
            planned = conn.execute(
                text("SELECT tenant_id, contact_id, currency FROM strategy.contacts ORDER BY 2")
            ).all()
            assert [tuple(r) for r in planned] == [("default", "K1", "USD"), ("default", "K2", "XXX")]
            assert conn.execute(text("SELECT tenant_id, paid_amount FROM strategy.promises")).one() == (
                "default",
                40,
            )
        # and back: the first-wave keys hold tenant default's rows again
        service_engine = make_engine(legacy_url, service="strategy", pool_size=1)
        try:
            with service_engine.begin() as connection:
                cfg = alembic_config(spec)
                cfg.attributes["connection"] = connection
                command.downgrade(cfg, "-1")
        finally:
            service_engine.dispose()
        with engine.begin() as conn:
            rows = conn.execute(text("SELECT account_id, bucket FROM strategy.accounts ORDER BY 1")).all()
            assert [tuple(r) for r in rows] == [("A1", "dpd_1_30"), ("A2", "current")]
        upgrade(spec, legacy_url)
    finally:
        engine.dispose()
