"""Raw batch topics: records read without a typed model (ingest's inbound), handed over as batches."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from runtime_probe import MIGRATIONS, probe_metadata
from sqlalchemy import insert, select
from test_event_identity import office

from libs.events.catalog import Topics
from libs.events.registry import DecodedEvent
from libs.platform.databases import fresh_database
from libs.runtime.clock import SimulatedClock
from libs.runtime.context import ServiceContext
from libs.runtime.db import drop_database
from libs.runtime.ids import SequentialIdFactory
from libs.runtime.service import ServiceSpec
from libs.runtime.transport.memory import InMemoryPlatform, MemoryBroker
from libs.runtime.uow import UnitOfWork


def raw_spec() -> ServiceSpec:
    metadata, seen = probe_metadata()

    def record(events: Sequence[DecodedEvent[Any]], uow: UnitOfWork) -> None:
        uow.extras.setdefault("calls", []).append([e.envelope.id for e in events])
        assert all(e.payload is None for e in events), "a raw topic's records are not decoded"
        if any(e.envelope.data.get("name") == "poison" for e in events):
            raise ValueError("a poison record")
        uow.session.execute(
            insert(seen),
            [
                {
                    "tenant_id": uow.tenant,
                    "source": e.envelope.source,
                    "event_id": e.envelope.id,
                    "entity_id": e.envelope.data["entity_id"],
                    "handled_at": uow.now(),
                }
                for e in events
            ],
        )

    return ServiceSpec(
        name="probe", metadata=metadata, migrations_dir=MIGRATIONS, raw_batch_topics={Topics.INBOUND: record}
    )


@pytest.fixture
def raw_platform(pg_server: str, clock: SimulatedClock) -> Iterator[InMemoryPlatform]:
    spec = raw_spec()
    name = f"cobranza_probe_raw_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    ctx = ServiceContext.create(
        spec, fresh_database(pg_server, [spec], name), clock=clock, ids=SequentialIdFactory("t"), pool_size=2
    )
    yield InMemoryPlatform([ctx], MemoryBroker(clock), clock)
    ctx.dispose()
    drop_database(pg_server, name)


def _seen(platform: InMemoryPlatform) -> list[str]:
    _, seen = probe_metadata()
    with platform.context("probe").sessions() as session:
        return list(session.execute(select(seen.c.event_id).order_by(seen.c.seq)).scalars())


def test_a_raw_batch_topic_is_subscribed_and_its_records_come_in_one_call(raw_platform) -> None:
    assert raw_spec().topics == [Topics.INBOUND]
    raw_platform.publish_many([office(f"E-{i}", f"O{i}") for i in range(5)], Topics.INBOUND)
    raw_platform.run_until_quiet()

    assert raw_platform.context("probe").extras["calls"] == [[f"E-{i}" for i in range(5)]]
    assert _seen(raw_platform) == [f"E-{i}" for i in range(5)]


def test_a_poison_record_of_a_raw_batch_is_bisected_out_and_dead_lettered_alone(raw_platform) -> None:
    events = [office(f"E-{i}", f"O{i}") for i in range(6)]
    events[3] = events[3].with_data({"entity_type": "office", "entity_id": "O3", "name": "poison"})
    raw_platform.publish_many(events, Topics.INBOUND)
    raw_platform.run_until_quiet()

    letters = raw_platform.broker.topics[Topics.DEAD_LETTER]
    assert [p.headers["dlq_event_id"] for p in letters] == ["E-3"]
    assert "poison record" in letters[0].headers["dlq_reason"]
    assert _seen(raw_platform) == ["E-0", "E-1", "E-2", "E-4", "E-5"]


def test_a_raw_topic_has_a_handler_or_a_batch_handler_not_both() -> None:
    metadata, _ = probe_metadata()
    with pytest.raises(ValueError, match="both a handler and a batch handler"):
        ServiceSpec(
            name="probe",
            metadata=metadata,
            migrations_dir=MIGRATIONS,
            raw_topics={Topics.INBOUND: lambda e, u: None},
            raw_batch_topics={Topics.INBOUND: lambda es, u: None},
        )
