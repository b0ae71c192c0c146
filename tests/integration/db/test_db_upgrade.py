"""`cobranza db upgrade` as compose's migrate job and Kubernetes' init containers run it."""

from __future__ import annotations

import threading

from sqlalchemy import text
from typer.testing import CliRunner

from libs.platform.cli import app
from libs.platform.registry import load_spec
from libs.runtime.db import make_engine, migration_lock
from libs.runtime.migrations import upgrade


def _schemas(url: str) -> set[str]:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT nspname FROM pg_namespace")).scalars())
    finally:
        engine.dispose()


def test_db_upgrade_also_creates_the_auth_schema_every_service_reads(
    empty_database: str, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", empty_database)
    monkeypatch.setenv("COBRANZA_STATE_DIR", "/nonexistent-cobranza-state")
    result = CliRunner().invoke(app, ["db", "upgrade", "aging"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["aging: at head", "auth: at head"]
    engine = make_engine(empty_database, pool_size=1)
    try:
        with engine.connect() as conn:
            tables = set(
                conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'auth'")).scalars()
            )
    finally:
        engine.dispose()
    assert {"api_keys", "audit_log"} <= tables


def test_two_upgrades_of_one_schema_at_once_take_turns(empty_database: str) -> None:
    """Two replicas' init containers: the second waits for the first instead of racing its DDL."""
    admin = make_engine(empty_database, pool_size=2)
    observer = make_engine(empty_database, pool_size=1)
    errors: list[BaseException] = []

    def replica() -> None:
        try:
            upgrade(load_spec("aging"), empty_database)
        except BaseException as exc:  # reported to the test's thread
            errors.append(exc)

    def waiting_on_the_lock() -> bool:
        with observer.connect() as conn:
            return bool(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
                    )
                ).scalar()
            )

    try:
        with migration_lock(admin, "aging"):  # the first replica, mid-migration
            thread = threading.Thread(target=replica)
            thread.start()
            for _ in range(2000):
                if waiting_on_the_lock():
                    break
                thread.join(0.01)
            assert waiting_on_the_lock(), "the second upgrade did not wait for the lock"
            assert "aging" not in _schemas(empty_database)
        thread.join(120)
        assert not thread.is_alive() and errors == []
        assert "aging" in _schemas(empty_database)
        upgrade(load_spec("aging"), empty_database)  # and again: a no-op at head
    finally:
        admin.dispose()
        observer.dispose()
