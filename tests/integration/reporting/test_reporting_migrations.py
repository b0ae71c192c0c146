"""The tenant revision on a reporting database written before tenants: rows move to the default tenant.

Existing invoices open at their billed amount (the old projection never tracked allocations),
the views expose ``tenant_id``, and the revision downgrades and upgrades again.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import text

from libs.platform.registry import load_spec
from libs.runtime.db import make_engine
from libs.runtime.migrations import upgrade

BEFORE = "8e768755261f"
NOW = "2026-01-05 10:00:00+00"

OLD_ROWS = f"""
INSERT INTO reporting.accounts (account_id, currency, product_line, advisor_id, office_id, agency_id,
  bucket, days_past_due, last_issued_on, updated_at) VALUES
  ('A1', 'COP', 'auto', 'ADV1', 'BOG', 'AG1', 'dpd_1_30', 4, '2026-01-01', '{NOW}'),
  ('A2', 'COP', 'vida', 'ADV2', 'MED', 'AG2', 'current', 0, '2026-01-01', '{NOW}');
INSERT INTO reporting.invoices (invoice_id, account_id, amount, currency, due_on, product_line, status) VALUES
  ('I1', 'A1', 100, 'COP', '2026-01-01', 'auto', 'open'),
  ('I2', 'A1', 50, 'COP', '2026-01-01', 'auto', 'cancelled'),
  ('I3', 'A2', 70, 'COP', '2026-01-01', 'vida', 'open');
INSERT INTO reporting.payments (payment_id, account_id, amount, currency, received_on) VALUES
  ('P1', 'A1', 30, 'COP', '2026-01-02');
INSERT INTO reporting.promises (promise_id, account_id, amount, currency, due_on, status, updated_at) VALUES
  ('PR1', 'A1', 10, 'COP', '2026-01-09', 'kept', '{NOW}');
INSERT INTO reporting.contacts (contact_id, account_id, channel, status, updated_at) VALUES
  ('K1', 'A1', 'sms', 'sent', '{NOW}');
"""


def _execute(url: str, sql: str) -> None:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def _query(url: str, sql: str) -> list[tuple]:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            return [tuple(r) for r in conn.execute(text(sql)).all()]
    finally:
        engine.dispose()


def test_rows_from_before_tenants_survive_the_revision(
    empty_database: str, migrate: Callable[[str, str, str, str], None]
) -> None:
    spec = load_spec("reporting")
    upgrade(spec, empty_database, BEFORE)
    _execute(empty_database, OLD_ROWS)
    upgrade(spec, empty_database)

    balances = _query(
        empty_database,
        "SELECT tenant_id, account_id, currency, bucket, invoiced, open_amount, credit_balance, balance "
        "FROM reporting.v_account_balances ORDER BY account_id",
    )
    assert balances == [
        ("default", "A1", "COP", "dpd_1_30", Decimal(100), Decimal(100), Decimal(0), Decimal(100)),
        ("default", "A2", "COP", "current", Decimal(70), Decimal(70), Decimal(0), Decimal(70)),
    ]
    for table in ("payments", "promises", "contacts"):
        assert _query(empty_database, f"SELECT DISTINCT tenant_id FROM reporting.{table}") == [("default",)]
    assert _query(empty_database, "SELECT tenant_id, made, kept FROM reporting.v_promise_kept_rate") == [
        ("default", 1, 1)
    ]

    migrate(empty_database, "reporting", "downgrade", BEFORE)
    assert _query(
        empty_database, "SELECT account_id, balance FROM reporting.v_account_balances ORDER BY 1"
    ) == [
        ("A1", Decimal(70)),
        ("A2", Decimal(70)),
    ]
    migrate(empty_database, "reporting", "upgrade", "head")
    assert len(_query(empty_database, "SELECT * FROM reporting.v_account_balances")) == 2
