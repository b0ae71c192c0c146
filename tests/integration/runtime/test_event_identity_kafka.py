"""On a real broker: an event is (tenant, source, id), batch handlers get the poll batch, lag is current."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from confluent_kafka import KafkaException
from sqlalchemy import func, select

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.runtime.transport.kafka import LagMonitor
from libs.runtime.worker import ServiceWorker

pytestmark = pytest.mark.kafka


def office(event_id: str, entity_id: str, *, source: str = "/core/a", tenant: str = "default") -> Envelope:
    return Envelope(
        id=event_id,
        source=source,
        type="cobranza.reference.upserted",
        time=datetime(2026, 1, 5, 15, tzinfo=UTC),
        subject=f"office:{entity_id}",
        tenantid=tenant,
        data={"entity_type": "office", "entity_id": entity_id, "name": f"Oficina {entity_id}"},
    )


@pytest.mark.parametrize("batch", [False, True], ids=["per_event", "batch"])
def test_sources_and_tenants_sharing_an_id_are_handled_and_a_replay_is_not(
    probe, probe_database, kafka_settings, wait_until, produce_records, topic_reader, batch: bool
) -> None:
    spec, url = probe_database(batch=batch)  # (its timers, due on the wall clock, fire too: ignored here)
    settings = kafka_settings(url)
    events = [
        office("E-1", "O1", source="/core/a"),
        office("E-1", "O2", source="/core/b"),
        office("E-1", "O3", source="/core/a", tenant="acme"),
        office("E-1", "O1-replayed", source="/core/a"),  # the same (tenant, source, id): a duplicate
    ]
    produce_records(settings, Topics.REFERENCE, [(e.subject, e) for e in events])
    _, seen = probe.probe_metadata()
    worker = ServiceWorker(spec, settings)
    worker.start_background()
    reader = topic_reader(settings, Topics.REFERENCE)
    try:

        def handled() -> int:
            with worker.ctx.sessions() as session:
                query = select(func.count()).select_from(seen).where(seen.c.source != "timer")
                return int(session.execute(query).scalar_one())

        wait_until(lambda: handled() == 3, what="three distinct events handled")
        wait_until(reader.has(len(events) + 3), what="the probe's three answers on the topic")
        assert worker.consumer is not None
        wait_until(
            lambda: sum(worker.consumer.lag.measure().values()) == 0,  # type: ignore[union-attr]
            what="lag 0 once the answers are consumed too",
        )
        with worker.ctx.sessions() as session:
            rows = session.execute(
                select(seen.c.tenant_id, seen.c.source, seen.c.entity_id).where(seen.c.source != "timer")
            ).all()
    finally:
        worker.shutdown()
    assert sorted(tuple(r) for r in rows) == [
        ("acme", "/core/a", "O3"),
        ("default", "/core/a", "O1"),
        ("default", "/core/b", "O2"),
    ]
    answers = [e for e in reader.seen if e["data"]["entity_type"] == "agency"]
    assert len({e["id"] for e in answers}) == 3
    assert {(e["tenantid"], e["causationid"]) for e in answers} == {("default", "E-1"), ("acme", "E-1")}


def test_lag_is_measured_from_the_broker_not_a_cache(
    probe_database, kafka_settings, wait_until, produce_records
) -> None:
    spec, url = probe_database()
    settings = kafka_settings(url)
    monitor = LagMonitor(settings, "probe-lag-test")
    try:
        from confluent_kafka import TopicPartition

        monitor.assign([TopicPartition(settings.kafka_topic_prefix + Topics.REFERENCE, 0)])

        def measured(expected: int) -> Callable[[], bool]:
            def check() -> bool:
                try:  # a topic just created may have no leader yet (Apache Kafka: NOT_LEADER_FOR_PARTITION)
                    seen.append(monitor.measure())
                except KafkaException:
                    return False
                return seen[-1] == {(Topics.REFERENCE, 0): expected}

            return check

        seen: list[dict[tuple[str, int], int]] = [{}]
        wait_until(measured(0), timeout=20, what="lag 0 once the partition has a leader")
        for i in range(5):  # one produce request each: Tansu under-reports watermarks of multi-record batches
            produce_records(settings, Topics.REFERENCE, [(f"office:O{i}", office(f"E-{i}", f"O{i}"))])
        try:
            wait_until(measured(5), timeout=20, what="lag 5 right after producing")
        except AssertionError:
            print("measured", seen[-3:])
            raise
    finally:
        monitor.close()
    assert json.dumps(spec.topics) == json.dumps([Topics.REFERENCE])
