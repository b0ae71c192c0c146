"""Each service's own login: its schema only, no SET/RESET ROLE escape, picked up from its DSN."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.platform.databases import LOGINS_FILE, migrate_all, service_logins
from libs.platform.registry import load_spec
from libs.runtime.clock import SimulatedClock
from libs.runtime.context import ServiceContext
from libs.runtime.db import make_engine, service_url_variable
from libs.runtime.ids import SequentialIdFactory
from libs.runtime.settings import sqlalchemy_url
from libs.runtime.transport.memory import InMemoryPlatform, MemoryBroker


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


def test_services_run_end_to_end_under_their_own_logins(
    logins: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock
) -> None:
    """Inbox, outbox (COPY included), timers and the handlers' writes need nothing beyond the grants."""
    migrator_url, urls = logins
    for variable, url in urls.items():
        monkeypatch.setenv(variable, url)
    contexts = [
        ServiceContext.create(
            load_spec(n), migrator_url, clock=clock, ids=SequentialIdFactory("t"), pool_size=2
        )
        for n in ("ingest", "aging")
    ]
    try:
        platform = InMemoryPlatform(contexts, MemoryBroker(clock), clock)
        platform.publish(_invoice(), Topics.INBOUND)
        platform.run_until_quiet()
        assert platform.broker.topics.get(Topics.DEAD_LETTER, []) == []
        with platform.context("aging").sessions() as session:
            assert session.execute(text("SELECT current_user")).scalar() == "cobranza_aging_login"
            assert session.execute(text("SELECT invoice_id FROM aging.invoices")).scalars().all() == ["I1"]
    finally:
        for ctx in contexts:
            ctx.dispose()


def _invoice() -> Envelope:
    return Envelope(
        id="e1",
        source="/core/policy",
        type="cobranza.invoice.issued",
        time=datetime(2026, 1, 5, 15, tzinfo=UTC),
        subject="A1",
        data={
            "invoice_id": "I1",
            "account_id": "A1",
            "customer": {
                "customer_id": "C1",
                "name": "Ana",
                "kind": "person",
                "country": "CO",
                "timezone": "America/Bogota",
            },
            "amount": "100000.00",
            "currency": "COP",
            "issued_on": "2026-01-05",
            "due_on": "2026-01-20",
            "product_line": "auto",
        },
    )
