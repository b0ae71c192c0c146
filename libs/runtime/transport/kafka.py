"""The Kafka transport (confluent-kafka): an idempotent publisher, a batched consumer loop, topic admin."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from libs.events.catalog import CATALOG, TopicSpec
from libs.runtime.observability import CONSUMER_LAG
from libs.runtime.processor import EventProcessor
from libs.runtime.settings import PlatformSettings
from libs.runtime.transport.base import OutgoingRecord, Record

log = logging.getLogger(__name__)


def producer_config(bootstrap: str, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.timeout.ms": 30000,
    }


class KafkaPublisher:
    """Publishes outbox rows; per-record delivery reports tell the relay what landed."""

    def __init__(
        self, bootstrap: str, client_id: str, flush_timeout_s: float = 30.0, topic_prefix: str = ""
    ) -> None:
        self.producer = Producer(producer_config(bootstrap, client_id))
        self.flush_timeout_s = flush_timeout_s
        self.topic_prefix = topic_prefix

    def publish(self, records: list[OutgoingRecord]) -> list[str | None]:
        errors: list[str | None] = ["not acknowledged"] * len(records)

        def report(index: int) -> Callable[[KafkaError | None, Message], None]:
            def callback(err: KafkaError | None, _msg: Message) -> None:
                errors[index] = None if err is None else str(err)

            return callback

        for i, r in enumerate(records):
            while True:
                try:
                    self.producer.produce(
                        self.topic_prefix + r.topic,
                        value=r.value,
                        key=r.key.encode() if r.key else None,
                        headers=[(k, v.encode()) for k, v in r.headers.items()],
                        on_delivery=report(i),
                    )
                    break
                except BufferError:
                    self.producer.poll(0.1)
        remaining = self.producer.flush(self.flush_timeout_s)
        if remaining:
            log.warning("%s records still in flight after flush", remaining)
        return errors

    def close(self) -> None:
        self.producer.flush(self.flush_timeout_s)


def consumer_config(settings: PlatformSettings, group: str) -> dict[str, Any]:
    assert settings.kafka_bootstrap_servers
    return {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "group.id": group,
        "client.id": f"cobranza-{group}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": settings.kafka_session_timeout_ms,
        "heartbeat.interval.ms": max(500, settings.kafka_session_timeout_ms // 3),
        "partition.assignment.strategy": settings.kafka_assignment_strategy,
        "isolation.level": "read_uncommitted",
        # statistics keep the cached high watermarks fresh, so lag is reported without broker round trips
        "statistics.interval.ms": 5000,
        "stats_cb": lambda _stats: None,
    }


def header_items(msg: Message) -> list[tuple[str, bytes]]:
    raw = msg.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    items: list[tuple[str, bytes]] = []
    for pair in pairs:
        key, value = pair[0], pair[1]
        items.append((str(key), value if isinstance(value, bytes) else str(value or "").encode()))
    return items


def to_record(msg: Message, topic_prefix: str = "") -> Record:
    """The catalog topic name is what handlers see; the broker-side prefix stays in the transport."""
    topic = msg.topic() or ""
    return Record(
        topic=topic.removeprefix(topic_prefix),
        partition=msg.partition() or 0,
        offset=msg.offset() or 0,
        key=msg.key(),
        value=msg.value(),
        headers=header_items(msg),
    )


class KafkaConsumerLoop:
    """Poll a batch, process it in one transaction, then commit its offsets (at-least-once + inbox)."""

    def __init__(
        self,
        processor: EventProcessor,
        settings: PlatformSettings,
        topics: list[str],
        group: str | None = None,
    ) -> None:
        self.processor = processor
        self.settings = settings
        self.topics = topics
        self.group = group or processor.spec.name
        self.consumer: Consumer | None = None
        self.ready = threading.Event()
        self._last_lag = 0.0

    def run(self, stop: threading.Event) -> None:
        consumer = Consumer(consumer_config(self.settings, self.group))
        self.consumer = consumer
        prefix = self.settings.kafka_topic_prefix
        consumer.subscribe([prefix + t for t in self.topics], on_assign=lambda c, p: self.ready.set())
        backoff = 0.5
        try:
            while not stop.is_set():
                messages = consumer.consume(
                    self.settings.kafka_batch_size, self.settings.kafka_poll_timeout_s
                )
                if not messages:
                    self._report_lag(consumer)
                    continue
                records = []
                for msg in messages:
                    err = msg.error()
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            log.warning("consumer error: %s", err)
                        continue
                    records.append(to_record(msg, prefix))
                try:
                    self.processor.process(records)
                except Exception as exc:  # InfrastructureError or a bug: retry the batch, never skip it
                    log.error("batch of %s failed, will retry from its first offset: %s", len(records), exc)
                    self._rewind(consumer, records)
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                backoff = 0.5
                self._commit(consumer, records)
                self._report_lag(consumer)
        finally:
            try:
                consumer.close()
            except (KafkaException, RuntimeError) as exc:
                log.warning("closing consumer: %s", exc)

    def _next_offsets(self, records: list[Record]) -> list[TopicPartition]:
        last: dict[tuple[str, int], int] = {}
        for r in records:
            last[(r.topic, r.partition)] = max(last.get((r.topic, r.partition), -1), r.offset)
        prefix = self.settings.kafka_topic_prefix
        return [TopicPartition(prefix + t, p, o + 1) for (t, p), o in last.items()]

    def _commit(self, consumer: Consumer, records: list[Record]) -> None:
        offsets = self._next_offsets(records)
        if offsets:
            consumer.commit(offsets=offsets, asynchronous=False)

    def _rewind(self, consumer: Consumer, records: list[Record]) -> None:
        first: dict[tuple[str, int], int] = {}
        for r in records:
            key = (r.topic, r.partition)
            first[key] = min(first.get(key, r.offset), r.offset)
        for (topic, partition), offset in first.items():
            try:
                consumer.seek(TopicPartition(self.settings.kafka_topic_prefix + topic, partition, offset))
            except KafkaException as exc:
                log.warning("seek %s[%s]@%s failed: %s", topic, partition, offset, exc)

    def _report_lag(self, consumer: Consumer) -> None:
        now = time.monotonic()
        if now - self._last_lag < 5:
            return
        self._last_lag = now
        try:
            for tp in consumer.position(consumer.assignment()):
                _low, high = consumer.get_watermark_offsets(tp, cached=True)
                lag = max(0, high - tp.offset) if tp.offset >= 0 else high
                CONSUMER_LAG.labels(self.group, tp.topic, str(tp.partition)).set(lag)
        except KafkaException as exc:
            log.debug("lag report failed: %s", exc)


def ensure_topics(
    bootstrap: str, specs: tuple[TopicSpec, ...] = CATALOG, timeout: float = 30.0, prefix: str = ""
) -> list[str]:
    """Create missing catalog topics (under ``prefix``); returns the names created."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [s for s in specs if prefix + s.name not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [
            NewTopic(prefix + s.name, num_partitions=s.partitions, replication_factor=1, config=s.config())
            for s in missing
        ],
        operation_timeout=timeout,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return created


def broker_reachable(bootstrap: str, timeout: float = 3.0) -> bool:
    try:
        AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=timeout)
        return True
    except KafkaException:
        return False
