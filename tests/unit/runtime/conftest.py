"""The probe service (``runtime_probe.py``) on a fresh database and the in-memory transport."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from runtime_probe import probe_spec

from libs.platform.databases import fresh_database
from libs.runtime.clock import SimulatedClock
from libs.runtime.context import ServiceContext
from libs.runtime.db import drop_database
from libs.runtime.ids import SequentialIdFactory
from libs.runtime.transport.memory import InMemoryPlatform, MemoryBroker

ProbeFactory = Callable[..., InMemoryPlatform]


@pytest.fixture
def probe_platform(pg_server: str, clock: SimulatedClock) -> Iterator[ProbeFactory]:
    """``probe_platform(batch=False)``: the probe service alone on a fresh database."""
    names: list[str] = []
    contexts: list[ServiceContext] = []

    def build(*, batch: bool = False, batch_size: int | None = None) -> InMemoryPlatform:
        spec = probe_spec(batch=batch)
        name = f"cobranza_probe_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        names.append(name)
        url = fresh_database(pg_server, [spec], name)
        ctx = ServiceContext.create(spec, url, clock=clock, ids=SequentialIdFactory("test"), pool_size=2)
        contexts.append(ctx)
        return InMemoryPlatform([ctx], MemoryBroker(clock), clock, batch_size=batch_size)

    yield build
    for ctx in contexts:
        ctx.dispose()
    for name in names:
        drop_database(pg_server, name)
