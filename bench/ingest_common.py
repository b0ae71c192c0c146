"""Shared plumbing of ingest's benchmarks: a PostgreSQL server, a fresh ingest database per run,
and the baseline every ingest number is held against: PostgreSQL COPY of the same rows.

Not a benchmark itself. ``PYTHONPATH=/tmp/old-ingest`` runs a benchmark against another checkout
(the code before a change) with this script's harness: the checkout named first wins.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from libs.platform.databases import fresh_database
from libs.platform.registry import load_spec
from libs.runtime.clock import SimulatedClock
from libs.runtime.context import ServiceContext
from libs.runtime.db import drop_database
from libs.runtime.service import ServiceSpec

START = datetime(2026, 3, 2, 14, tzinfo=UTC)


@contextmanager
def ingest_context(server: str, spec: ServiceSpec | None = None) -> Iterator[ServiceContext]:
    """A fresh migrated ingest database (``spec`` may swap the handlers), dropped afterwards."""
    real = load_spec("ingest")
    name = f"bench_ingest_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    url = fresh_database(server, [real], name)
    ctx = ServiceContext.create(spec or real, url, clock=SimulatedClock(START), pool_size=2)
    try:
        yield ctx
    finally:
        ctx.dispose()
        drop_database(server, name)


def admin_headers(ctx: ServiceContext, tenant: str = "default") -> dict[str, str]:
    """``Authorization: Bearer`` of a fresh admin key of ``tenant`` (every route needs a credential)."""
    from libs.auth.keys import create_key
    from libs.runtime.db import make_engine

    engine = make_engine(ctx.engine.url.render_as_string(hide_password=False), service="auth", pool_size=1)
    try:
        with engine.begin() as conn:
            token, _ = create_key(conn, tenant=tenant, role="admin", now=datetime.now(UTC))
    finally:
        engine.dispose()
    return {"Authorization": f"Bearer {token}"}


def copy_rate(ctx: ServiceContext, rows: Sequence[tuple[str, Any]], chunk: int = 1000) -> float:
    """Rows/s of PostgreSQL COPY of ``rows`` (id, JSON document) into a plain table, one
    transaction per ``chunk`` rows as ingest commits them: the floor no import can beat."""
    raw = ctx.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("CREATE TABLE IF NOT EXISTS ingest.bench_copy (id text, data jsonb)")
        raw.commit()
        started = time.perf_counter()
        for i in range(0, len(rows), chunk):
            with cursor.copy("COPY ingest.bench_copy (id, data) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for ident, data in rows[i : i + chunk]:
                    copy.write_row((ident, json.dumps(data, separators=(",", ":"))))
            raw.commit()
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE ingest.bench_copy")
        raw.commit()
    finally:
        raw.close()
    return len(rows) / elapsed


def timed(run: Iterable[Any]) -> tuple[float, float]:
    """(wall s, this process's CPU s) of exhausting ``run``."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in run:
        pass
    return time.perf_counter() - wall, time.process_time() - cpu
