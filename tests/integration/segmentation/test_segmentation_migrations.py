"""segmentation's tenant migration on a database holding first-wave rows: each row keeps its tenant."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy import text

from libs.platform.registry import load_spec
from libs.runtime.db import make_engine
from libs.runtime.migrations import upgrade

FIRST_WAVE = "dbf2f39c099a"
T0 = datetime(2026, 1, 10, 15, tzinfo=UTC)


def test_first_wave_rows_take_their_accounts_tenant_and_the_way_back_works(
    empty_database: str, migrate: Callable[[str, str, str, str], None]
) -> None:
    spec = load_spec("segmentation")
    upgrade(spec, empty_database, FIRST_WAVE)
    engine = make_engine(empty_database, pool_size=1)
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
        upgrade(spec, empty_database)
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
        migrate(empty_database, "segmentation", "downgrade", FIRST_WAVE)
        with engine.begin() as conn:
            rows = conn.execute(
                text("SELECT invoice_id, account_id FROM segmentation.invoices ORDER BY 1")
            ).all()
            assert [tuple(r) for r in rows] == [("I1", "A1"), ("I2", "A2")]
            tenant = conn.execute(
                text("SELECT tenant FROM segmentation.accounts WHERE account_id = 'A1'")
            ).scalar()
            assert tenant == "aseguradora"
        upgrade(spec, empty_database)
    finally:
        engine.dispose()


def test_accounts_profiled_in_one_currency_keep_it_as_their_only_currency_state(
    empty_database: str, migrate: Callable[[str, str, str, str], None]
) -> None:
    spec = load_spec("segmentation")
    upgrade(spec, empty_database, "e2b8d5a31c04")
    engine = make_engine(empty_database, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO segmentation.accounts (tenant_id, account_id, currency, bucket, stage, "
                    "days_past_due, aged_on, overdue_balance, credit_balance, updated_at) "
                    "VALUES ('t1', 'A1', 'USD', 'dpd_1_30', 'early', 12, :d, 80, 5, :t)"
                ),
                {"d": date(2026, 1, 8), "t": T0},
            )
            conn.execute(
                text(
                    "INSERT INTO segmentation.aging_history (tenant_id, event_id, account_id, effective_on, "
                    "bucket, days_past_due, overdue_amount) VALUES ('t1', 'E1', 'A1', :d, 'dpd_1_30', 12, 80)"
                ),
                {"d": date(2026, 1, 8)},
            )
        upgrade(spec, empty_database)
        with engine.begin() as conn:
            currencies = conn.execute(
                text("SELECT currencies FROM segmentation.accounts WHERE account_id = 'A1'")
            ).scalar()
            assert currencies == {
                "USD": {
                    "bucket": "dpd_1_30",
                    "stage": "early",
                    "days_past_due": 12,
                    "aged_on": "2026-01-08",
                    "overdue_balance": "80.0000",
                    "credit_balance": "5.0000",
                }
            }
            assert conn.execute(text("SELECT currency FROM segmentation.aging_history")).scalar() == "USD"
        migrate(empty_database, "segmentation", "downgrade", "e2b8d5a31c04")
        upgrade(spec, empty_database)
    finally:
        engine.dispose()
