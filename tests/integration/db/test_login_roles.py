"""Each service's own login: its schema only, no SET/RESET ROLE escape, picked up from its DSN."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from libs.platform.databases import LOGINS_FILE, migrate_all, service_logins
from libs.platform.registry import load_spec
from libs.runtime.db import make_engine, service_url_variable
from libs.runtime.settings import sqlalchemy_url


@pytest.fixture
def logins(empty_database: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    migrate_all([load_spec("ingest"), load_spec("aging")], empty_database)
    yield empty_database, service_logins(tmp_path, empty_database, ["ingest", "aging"])


def _connect(url: str):  # type: ignore[no-untyped-def]
    return create_engine(sqlalchemy_url(url), hide_parameters=True)


def test_the_login_reads_and_writes_its_schema_and_cannot_escape_to_another(
    logins: tuple[str, dict[str, str]],
) -> None:
    _, urls = logins
    engine = _connect(urls[service_url_variable("aging")])
    try:
        with engine.begin() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == "cobranza_aging_login"
            conn.execute(text("SELECT count(*) FROM aging.invoices")).scalar()
            conn.execute(text("DELETE FROM aging.invoices WHERE tenant_id = 'nobody'"))
            conn.execute(text("SELECT count(*) FROM auth.api_keys")).scalar()
        for escape in (
            "RESET ROLE; SELECT count(*) FROM ingest.customers",
            "SELECT count(*) FROM ingest.customers",
            "SET ROLE cobranza_ingest",
            "SET ROLE cobranza_aging",
            "CREATE TABLE aging.sneaky (x int)",
            "CREATE TABLE public.sneaky (x int)",
        ):
            with pytest.raises(ProgrammingError) as failure, engine.begin() as conn:
                for statement in escape.split("; "):
                    conn.execute(text(statement))
            assert "permission denied" in str(failure.value), escape
    finally:
        engine.dispose()


def test_a_service_engine_uses_its_own_login_when_its_dsn_is_set(
    logins: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    migrator_url, urls = logins
    monkeypatch.setenv(service_url_variable("ingest"), urls[service_url_variable("ingest")])
    service = make_engine(migrator_url, service="ingest", pool_size=1)
    owner = make_engine(migrator_url, service="ingest", pool_size=1, owner=True)
    try:
        with service.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == "cobranza_ingest_login"
        with owner.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == "cobranza_ingest"
    finally:
        service.dispose()
        owner.dispose()


def test_passwords_are_generated_once_and_kept_private(
    logins: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    migrator_url, first = logins
    path = tmp_path / LOGINS_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert service_logins(tmp_path, migrator_url, ["ingest", "aging"]) == first
    assert first[service_url_variable("ingest")] != first[service_url_variable("aging")]
