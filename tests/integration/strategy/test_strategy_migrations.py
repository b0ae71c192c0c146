"""strategy's tenant migration on a database holding first-wave rows: nothing planned is lost."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy import text

from libs.platform.registry import load_spec
from libs.runtime.db import make_engine
from libs.runtime.migrations import upgrade

FIRST_WAVE = "83201af0abfa"
T0 = datetime(2026, 1, 10, 15, tzinfo=UTC)


def test_first_wave_rows_land_in_tenant_default_with_their_currency(
    empty_database: str, migrate: Callable[[str, str, str, str], None]
) -> None:
    spec = load_spec("strategy")
    upgrade(spec, empty_database, FIRST_WAVE)
    engine = make_engine(empty_database, pool_size=1)
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
        upgrade(spec, empty_database)
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
        migrate(empty_database, "strategy", "downgrade", "8521f72bac1e")
        with engine.begin() as conn:
            rows = conn.execute(text("SELECT account_id, bucket FROM strategy.accounts ORDER BY 1")).all()
            assert [tuple(r) for r in rows] == [("A1", "dpd_1_30"), ("A2", "current")]
        upgrade(spec, empty_database)
    finally:
        engine.dispose()
