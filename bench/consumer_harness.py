"""The harness every consumer benchmark shares: synthetic records, the no-op runtime baseline,
the timed feed through ``EventProcessor.process`` on a fresh database, and the results table.

Not a benchmark itself. Each ``bench/<service>_consumer.py`` keeps only its event generator
(one account's scenario) and the columns it prints, and calls :func:`main`. The service is
loaded by name, so ``PYTHONPATH=<checkout>`` measures another checkout's handlers with this
harness. Uses DATABASE_URL if set, else an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, func, select, text

from libs.events.envelope import Envelope
from libs.events.registry import DecodedEvent, model_for
from libs.platform.databases import fresh_database
from libs.runtime.clock import SimulatedClock
from libs.runtime.context import ServiceContext
from libs.runtime.db import drop_database
from libs.runtime.processor import EventProcessor
from libs.runtime.service import ServiceSpec
from libs.runtime.transport.base import Record
from libs.runtime.uow import UnitOfWork

START = datetime(2026, 3, 2, 14, tzinfo=UTC)
Scenario = list[tuple[str, str, dict[str, Any]]]
"""One account's events as (type, record key, data), in the order its topics would carry them."""

RUNTIME_TABLES = frozenset({"inbox", "outbox", "timers"})
ANALYZE = True
"""Whether :func:`measure` analyses the tables after the first poll batch (``--no-analyze`` clears it)."""
PROFILE: str | None = None
"""``--profile PREFIX``: the service's timed feed under cProfile on CPU time (waiting on PostgreSQL
is not counted), written to ``PREFIX.<events>.prof``."""


def customer_of(n: int) -> dict[str, Any]:
    """Account ``n``'s debtor as the contracts carry it (a person in Bogotá)."""
    return {
        "customer_id": f"CUS-{n:07d}",
        "name": f"Cliente {n}",
        "kind": "person",
        "country": "CO",
        "timezone": "America/Bogota",
    }


def records(
    total: int,
    scenario: Callable[[int], Scenario],
    *,
    source: str = "/bench/core",
    topic: str | None = None,
) -> list[Record]:
    """``total`` records: the accounts' scenarios interleaved step by step (many accounts per
    batch). Each record goes to its event type's topic unless ``topic`` names one for all."""
    per_account = len(scenario(0))
    scenarios = [scenario(n) for n in range(max(1, total // per_account))]
    out: list[Record] = []
    for step in range(per_account):
        for n, events in enumerate(scenarios):
            event_type, key, data = events[step]
            envelope = Envelope(
                id=f"ev-{n}-{step}",
                source=source,
                type=event_type,
                time=START + timedelta(seconds=step),
                subject=key,
                data=data,
                tenantid="default",
            )
            out.append(
                Record(
                    topic or model_for(event_type).topic,
                    0,
                    len(out),
                    key.encode(),
                    envelope.to_json_bytes(),
                )
            )
    return out[:total]


def business_metadata(spec: ServiceSpec) -> MetaData:
    """The service's own tables without the runtime's (the no-op spec gets those again)."""
    metadata = MetaData(schema=spec.name)
    for table in spec.metadata.sorted_tables:
        if table.name not in RUNTIME_TABLES:
            table.to_metadata(metadata)
    return metadata


def _noop(events: Sequence[DecodedEvent[Any]], uow: UnitOfWork) -> None:
    return None


def noop_spec(spec: ServiceSpec) -> ServiceSpec:
    """The service's schema and subscriptions with handlers that do nothing (the runtime's own cost)."""
    return ServiceSpec(
        name=spec.name,
        metadata=business_metadata(spec),
        migrations_dir=spec.migrations_dir,
        batch_handlers=dict.fromkeys([*spec.handlers, *spec.batch_handlers], _noop),
    )


def analyze(ctx: ServiceContext) -> None:
    """ANALYZE the service's schema: planner statistics as autovacuum leaves them on a live database.

    A fresh database has none, so PostgreSQL plans ``tenant_id = … AND id = ANY(…)`` on a guess of
    the table's size (it scanned the tenant's rows instead of using the key in the first runs)."""
    with ctx.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        tables = conn.execute(
            text(
                "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables WHERE schemaname = :s"
            ),
            {"s": ctx.spec.name},
        ).scalars()
        for table in list(tables):
            conn.execute(text(f"ANALYZE {table}"))


def feed(
    processor: EventProcessor,
    batch: list[Record],
    batch_size: int,
    *,
    warm_up: Callable[[], None] | None = None,
) -> tuple[float, float]:
    """(wall s, CPU s of this process) feeding ``batch`` in poll batches of ``batch_size``.

    ``warm_up`` runs once after the first poll batch, outside the timed window (the first batch is
    timed; the planner statistics then describe tables that hold rows)."""
    wall_total = cpu_total = 0.0
    for i in range(0, len(batch), batch_size):
        wall, cpu = time.perf_counter(), time.process_time()
        result = processor.process(batch[i : i + batch_size])
        wall_total += time.perf_counter() - wall
        cpu_total += time.process_time() - cpu
        if result.dead_lettered:
            raise SystemExit(f"dead-lettered: {result.reasons[:3]}")
        if i == 0 and warm_up is not None:
            warm_up()
    return wall_total, cpu_total


@dataclass(frozen=True)
class Measurement:
    rate: float
    """Events per second."""
    cpu: float
    """CPU µs per event of this process (PostgreSQL's CPU is another process)."""
    emitted: int
    """Rows the handlers wrote to the outbox."""


def measure(
    server: str, migrate: ServiceSpec, spec: ServiceSpec, batch: list[Record], batch_size: int
) -> Measurement:
    """Feed ``batch`` through ``spec``'s handlers on a fresh database migrated as ``migrate``."""
    # database names are held to 41 characters (libs.runtime.db): the longest service still fits
    name = f"bench_{spec.name}_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    url = fresh_database(server, [migrate], name)
    ctx = ServiceContext.create(spec, url, clock=SimulatedClock(START + timedelta(minutes=1)))
    profiler = cProfile.Profile(time.process_time) if PROFILE and spec is migrate else None  # CPU only
    try:
        if profiler is not None:
            profiler.enable()
        wall, cpu = feed(
            EventProcessor(ctx), batch, batch_size, warm_up=(lambda: analyze(ctx)) if ANALYZE else None
        )
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(f"{PROFILE}.{len(batch)}.prof")
        with ctx.sessions() as session:
            emitted = session.execute(select(func.count()).select_from(spec.tables.outbox)).scalar_one()
    finally:
        ctx.dispose()
        drop_database(server, name)
    return Measurement(len(batch) / wall, cpu / len(batch) * 1e6, emitted)


@dataclass(frozen=True)
class Row:
    """One size's results: the service's handlers and the no-op runtime on the same records."""

    size: int
    real: Measurement
    noop: Measurement
    extra: dict[str, float]


@dataclass(frozen=True)
class Column:
    header: str
    width: int
    value: Callable[[Row], float]
    format: str = ",.0f"


def standard_columns(label: str, *, emitted: bool = False) -> list[Column]:
    """events, the service's ev/s and CPU, [emitted,] the no-op's ev/s and CPU, and their ratio."""
    real = [
        Column(label, max(9, len(label) + 1), lambda r: r.real.rate),
        Column("CPU µs/ev", 10, lambda r: r.real.cpu),
    ]
    if emitted:
        real.append(Column("emitted", 8, lambda r: r.real.emitted, ","))
    return [
        Column("events", 8, lambda r: r.size, ","),
        *real,
        Column("no-op ev/s", 11, lambda r: r.noop.rate),
        Column("CPU µs/ev", 10, lambda r: r.noop.cpu),
        Column("ratio", 6, lambda r: r.real.rate / r.noop.rate, ".2f"),
    ]


def print_header(title: str, batch_size: int, columns: Sequence[Column]) -> None:
    print(f"{title}, poll batches of {batch_size}, {os.cpu_count()} CPUs")
    print(" ".join(f"{c.header:>{c.width}}" for c in columns), flush=True)


def print_row(row: Row, columns: Sequence[Column]) -> None:
    print(" ".join(f"{c.value(row):>{c.width}{c.format}}" for c in columns), flush=True)


def report(
    server: str,
    spec: ServiceSpec,
    batches: Callable[[int], list[Record]],
    sizes: Sequence[int],
    batch_size: int,
    columns: Sequence[Column],
) -> None:
    print_header(f"{spec.name} consumer", batch_size, columns)
    for size in sizes:
        batch = batches(size)
        noop = measure(server, spec, noop_spec(spec), batch, batch_size)
        real = measure(server, spec, spec, batch, batch_size)
        print_row(Row(size, real, noop, {}), columns)


def parse_args(doc: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="leave the fresh tables without planner statistics (the runs before ANALYZE was added)",
    )
    parser.add_argument(
        "--profile",
        metavar="PREFIX",
        help="run the service's feed under cProfile and write PREFIX.<events>.prof (CPU time; profiling inflates it)",
    )
    return parser.parse_args()


@contextmanager
def postgres() -> Iterator[str]:
    """DATABASE_URL when set, else an embedded PostgreSQL in a temporary directory."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    from libs.platform.embedded import EmbeddedPostgres

    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="cobranza-bench-")) / "pgdata", ephemeral=True)
    try:
        yield pg.start()
    finally:
        pg.stop()


def main(
    doc: str | None,
    service: str,
    batches: Callable[[int], list[Record]],
    columns: Sequence[Column] | None = None,
) -> None:
    """Parse ``--sizes``/``--batch`` and print ``service``'s table (the standard columns by default)."""
    from libs.platform.registry import load_spec

    global ANALYZE, PROFILE
    args = parse_args(doc)
    ANALYZE = not args.no_analyze
    PROFILE = args.profile
    spec = load_spec(service)
    with postgres() as server:
        report(server, spec, batches, args.sizes, args.batch, columns or standard_columns("ev/s"))
