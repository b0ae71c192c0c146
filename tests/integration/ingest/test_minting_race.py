"""Two sources minting the same canonical id at the same moment: the second waits on the unique
index, its savepoint rolls back, and it mints again seeing the first's row. Nobody gets a 500,
nobody shares an id."""

from __future__ import annotations

import threading

from sqlalchemy import text

from libs.platform.registry import load_spec
from libs.runtime.clock import SystemClock
from libs.runtime.context import ServiceContext
from libs.runtime.db import make_engine
from services.ingest.service_layer.documents import Incoming, Recorded, record_documents


def test_a_race_for_the_same_id_gives_each_source_its_own(service_database, wait_until) -> None:  # type: ignore[no-untyped-def]
    url = service_database(["ingest"])
    ctx = ServiceContext.create(load_spec("ingest"), url, clock=SystemClock(), pool_size=3)
    admin = make_engine(url, pool_size=1)  # sees every session's wait events
    recorded: dict[str, Recorded] = {}
    first_recorded, release_first = threading.Event(), threading.Event()

    def first() -> None:
        with ctx.unit_of_work(tenant="t1") as uow:
            recorded["core"] = record_documents(uow, "core", "invoice", [Incoming("INV-1", "A1", "COP")])[
                "INV-1"
            ]
            first_recorded.set()
            assert release_first.wait(30)

    def second() -> None:
        with ctx.unit_of_work(tenant="t1") as uow:
            recorded["billing"] = record_documents(
                uow, "billing", "invoice", [Incoming("INV-1", "A2", "COP")]
            )["INV-1"]

    def second_is_waiting_on_a_lock() -> bool:
        with admin.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        return bool(waiting)

    try:
        one = threading.Thread(target=first)
        one.start()
        assert first_recorded.wait(30)
        two = threading.Thread(target=second)
        two.start()
        wait_until(
            second_is_waiting_on_a_lock, timeout=30, what="the second source to wait on the unique index"
        )
        release_first.set()
        one.join(30)
        two.join(30)
    finally:
        release_first.set()
        ctx.dispose()
        admin.dispose()
    assert (recorded["core"].canonical_id, recorded["core"].new) == ("INV-1", True)
    assert (recorded["billing"].canonical_id, recorded["billing"].new) == ("billing:INV-1", True)
