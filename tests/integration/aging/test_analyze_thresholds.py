"""aging, segmentation, reconciliation, reporting, notifier and strategy analyse their hot tables (and the
runtime's tables of their schema) after 2 % + 50 changed rows: never later than PostgreSQL's
default (10 % + 50), and a big table's bulk load gets planner statistics within a naptime; the way
back restores PostgreSQL's defaults."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

from libs.platform.registry import load_spec
from libs.runtime.db import make_engine
from libs.runtime.migrations import upgrade

HOT = {
    "aging": ("e1a7c4f20b93", {"invoices", "account_state", "bucket_transitions"}),
    "segmentation": (
        "e2b8d5a31c04",
        {"accounts", "invoices", "payments", "aging_history", "promise_outcomes", "segment_history"},
    ),
    "reconciliation": ("e3c9e6b42d15", {"accounts", "invoices", "payments", "allocations", "credits"}),
    "reporting": ("e4dafc753e26", {"accounts", "invoices", "payments", "contacts", "promises"}),
    "notifier": ("e5eb0d864f37", {"tasks", "recipients"}),
    "strategy": (
        "e6b1f0a9c2d4",
        {
            "accounts",
            "account_buckets",
            "consents",
            "promises",
            "payments",
            "promise_payments",
            "contacts",
            "decisions",
            "contact_history",
            "pauses",
            "plan_treatments",
            "plans",
            "plan_payments",
        },
    ),
}
RUNTIME = {"inbox", "outbox", "timers"}
OPTIONS = ["autovacuum_analyze_scale_factor=0.02", "autovacuum_analyze_threshold=50"]


def _options(url: str, schema: str) -> dict[str, list[str] | None]:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            rows = conn.execute(
                text(
                    "SELECT c.relname, c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = :s AND c.relkind = 'r'"
                ),
                {"s": schema},
            ).all()
    finally:
        engine.dispose()
    return {name: (sorted(options) if options else None) for name, options in rows}


@pytest.mark.parametrize("service", sorted(HOT))
def test_hot_tables_are_analysed_early_and_the_way_back_resets_them(
    service: str, empty_database: str, migrate: Callable[[str, str, str, str], None]
) -> None:
    revision, hot = HOT[service]
    upgrade(load_spec(service), empty_database)
    options = _options(empty_database, service)
    assert hot | RUNTIME <= set(options)
    for table in hot | RUNTIME:
        assert options[table] == OPTIONS, table
    assert all(options[t] is None for t in set(options) - hot - RUNTIME)
    migrate(empty_database, service, "downgrade", f"{revision}-1")  # later revisions go first
    assert all(value is None for value in _options(empty_database, service).values())
    migrate(empty_database, service, "upgrade", revision)
    assert _options(empty_database, service)["inbox"] == OPTIONS
