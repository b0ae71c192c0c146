"""The "a whole batch gives what one event at a time gives" harness every batch-first service tests.

A service's batch test builds the same platform twice (one batch per poll, and ``batch_size=1``),
feeds both the same events and compares what each emitted and each left in its tables; then it
counts the statements a batch costs at two sizes. The comparison and the counting live here once.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Table, event, select
from sqlalchemy.engine import Engine

from libs.platform.registry import load_spec
from libs.runtime.clock import SimulatedClock
from libs.runtime.context import ServiceContext
from libs.runtime.ids import SequentialIdFactory
from libs.runtime.transport.memory import InMemoryPlatform, MemoryBroker

Build = Callable[[int | None], InMemoryPlatform]
"""``build(batch_size)``: a fresh one-service platform; ``None`` is one batch per poll."""


@contextmanager
def one_service_platforms(
    service_database: Callable[[Sequence[str]], str], service: str, start: datetime
) -> Iterator[Build]:
    """Platforms of ``service`` alone, each on a fresh database with a clock of its own at ``start``."""
    contexts: list[ServiceContext] = []

    def make(batch_size: int | None) -> InMemoryPlatform:
        clock = SimulatedClock(start)
        ctx = ServiceContext.create(
            load_spec(service), service_database([service]), clock=clock, ids=SequentialIdFactory("t")
        )
        contexts.append(ctx)
        return InMemoryPlatform([ctx], MemoryBroker(clock), clock, batch_size=batch_size)

    try:
        yield make
    finally:
        for ctx in contexts:
            ctx.dispose()


_TRACE_FIELD = re.compile(rb',?"trace(?:parent|state)":"[^"]*"')


def _untraced(value: Any) -> Any:
    """A value without its trace context: span ids are random, so they are not state."""
    if isinstance(value, bytes | bytearray):
        return _TRACE_FIELD.sub(b"", bytes(value))
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in ("traceparent", "tracestate")}
    return value


def table_rows(
    ctx: ServiceContext,
    *,
    include: Callable[[Table], bool] = lambda table: True,
    with_serial: bool = False,
    sort_keys: bool = False,
) -> dict[str, Counter[str]]:
    """Every row of the service's tables as JSON, per table, as a multiset (order is not state).

    A serial column numbers rows in arrival order, which batching may change: left out unless
    ``with_serial``. ``sort_keys`` makes JSON documents in a row compare by content. Trace
    context (``traceparent``/``tracestate`` in outbox payloads and headers) is left out.
    """
    state: dict[str, Counter[str]] = {}
    with ctx.sessions() as session:
        for table in ctx.spec.metadata.sorted_tables:
            if not include(table):
                continue
            serial = None if with_serial else table.autoincrement_column
            rows = session.execute(select(*[c for c in table.columns if c is not serial])).all()
            state[table.name] = Counter(
                json.dumps([_untraced(v) for v in r], default=str, sort_keys=sort_keys) for r in rows
            )
    return state


@contextmanager
def counted_statements(
    engine: Engine, *, keep: Callable[[str], bool] = lambda statement: True
) -> Iterator[list[str]]:
    """The SQL statements ``engine`` runs inside the block (those ``keep`` accepts), in order."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        if keep(args[2]):
            statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)
