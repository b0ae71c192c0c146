"""The Kafka transport (confluent-kafka): an idempotent publisher, a batched consumer loop, topic admin."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client import Counter

from libs.events.catalog import CATALOG, TopicSpec
from libs.runtime.observability import CONSUMER_LAG
from libs.runtime.processor import EventProcessor
from libs.runtime.settings import PlatformSettings
from libs.runtime.transport.base import OutgoingRecord, PublishError, Record

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
    """Publishes outbox rows; per-record delivery reports tell the relay what landed.

    A fatal producer error (e.g. a broker that restarted without its log answers the idempotent
    producer's sequence numbers with OUT_OF_ORDER_SEQUENCE_NUMBER) poisons the producer for good: it is
    replaced by a new one and the records it did not deliver are reported retriable, for the relay's
    next round.
    """

    def __init__(
        self, bootstrap: str, client_id: str, flush_timeout_s: float = 30.0, topic_prefix: str = ""
    ) -> None:
        self.config = producer_config(bootstrap, client_id)
        self.config["error_cb"] = self._on_error
        self.flush_timeout_s = flush_timeout_s
        self.topic_prefix = topic_prefix
        self.fatal: str | None = None
        self.renewals = 0
        self.producer = Producer(self.config)

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self.fatal = str(err)
        else:
            log.debug("producer: %s", err)

    def _renew(self) -> None:
        log.error("producer failed (%s); replacing it", self.fatal)
        old = self.producer
        with contextlib.suppress(KafkaException, RuntimeError):
            old.purge()
        self.producer = Producer(self.config)
        self.fatal = None
        self.renewals += 1

    def publish(self, records: list[OutgoingRecord]) -> list[str | None]:
        if self.fatal is not None:
            self._renew()
        errors: list[str | None] = [PublishError("not acknowledged", retriable=True)] * len(records)

        def report(index: int) -> Callable[[KafkaError | None, Message], None]:
            def callback(err: KafkaError | None, _msg: Message) -> None:
                if err is None:
                    errors[index] = None
                    return
                if err.fatal():
                    self.fatal = str(err)
                errors[index] = PublishError(
                    str(err), retriable=bool(err.fatal() or err.retriable() or _broker_side(err))
                )

            return callback

        try:
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
        except (KafkaException, SystemError) as exc:  # a fatal error surfaces from produce()/flush()
            self.fatal = self.fatal or str(exc)
        if self.fatal is None and records and all(e is not None for e in errors):
            # nothing at all got through: a producer that lived through a broker restart can keep
            # timing out against the new broker (stale idempotence state); a new one starts clean
            self.fatal = f"no record of {len(records)} acknowledged ({errors[0]})"
        if self.fatal is not None:
            self._renew()
        return errors

    def close(self) -> None:
        self.producer.flush(self.flush_timeout_s)


_BROKER_SIDE = {
    KafkaError._MSG_TIMED_OUT,
    KafkaError._TIMED_OUT,
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.NOT_ENOUGH_REPLICAS,
}


def _broker_side(err: KafkaError) -> bool:
    """Errors of an unavailable broker, not of the record: they never count toward parking a row."""
    return err.code() in _BROKER_SIDE


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


class LagMonitor:
    """Consumer lag as it is now: the group's committed offsets against the partitions' high watermarks.

    Both are asked of the broker (never librdkafka's statistics cache, which is as old as its last
    interval) from a client and a thread of its own, so the poll loop never waits on a lag query.
    The partitions are the loop's current assignment, which the loop keeps up to date.
    """

    def __init__(self, settings: PlatformSettings, group: str, *, timeout_s: float = 5.0) -> None:
        self.settings = settings
        self.group = group
        self.timeout_s = timeout_s
        self._assigned: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._client: Consumer | None = None

    def assign(self, partitions: list[TopicPartition]) -> None:
        with self._lock:
            self._assigned.update((tp.topic, tp.partition) for tp in partitions)

    def revoke(self, partitions: list[TopicPartition]) -> None:
        prefix = self.settings.kafka_topic_prefix
        with self._lock:
            for tp in partitions:
                self._assigned.discard((tp.topic, tp.partition))
                with contextlib.suppress(KeyError):  # never measured
                    CONSUMER_LAG.remove(self.group, tp.topic.removeprefix(prefix), str(tp.partition))

    def _consumer(self) -> Consumer:
        if self._client is None:
            config = consumer_config(self.settings, self.group)
            config["client.id"] = f"cobranza-{self.group}-lag"
            self._client = Consumer(config)  # never subscribes: it only reads offsets
        return self._client

    def measure(self) -> dict[tuple[str, int], int]:
        """Lag per (catalog topic, partition) of the current assignment; also sets the gauge."""
        with self._lock:
            assigned = sorted(self._assigned)
        if not assigned:
            return {}
        client = self._consumer()
        committed = client.committed([TopicPartition(t, p) for t, p in assigned], timeout=self.timeout_s)
        prefix = self.settings.kafka_topic_prefix
        lags: dict[tuple[str, int], int] = {}
        for tp in committed:
            low, high = client.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=self.timeout_s, cached=False
            )
            position = tp.offset if tp.offset >= 0 else low  # nothing committed yet: from the start
            lag = max(0, high - position)
            topic = tp.topic.removeprefix(prefix)
            lags[(topic, tp.partition)] = lag
            CONSUMER_LAG.labels(self.group, topic, str(tp.partition)).set(lag)
        return lags

    def run(self, stop: threading.Event, interval_s: float) -> None:
        try:
            while not stop.wait(interval_s):
                try:
                    self.measure()
                except KafkaException as exc:
                    log.debug("lag measurement failed: %s", exc)
        finally:
            self.close()

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except (KafkaException, RuntimeError) as exc:
                log.debug("closing the lag client: %s", exc)
            self._client = None


class ConsumerFatal(RuntimeError):
    """The consumer cannot go on (a fatal librdkafka error): the service must stop, not idle."""


COMMIT_FAILURES = Counter(
    "cobranza_consumer_commit_failures_total", "Offset commits the broker refused", ["service"]
)
REVOKED = Counter(
    "cobranza_consumer_partitions_revoked_total", "Partitions taken away by a rebalance", ["service"]
)


IDLE_COMMIT_BACKOFF_S = 0.5
IDLE_COMMIT_BACKOFF_MAX_S = 10.0


class KafkaConsumerLoop:
    """Poll a batch, process it in one transaction, then commit its offsets (at-least-once + inbox).

    Faults: a batch whose processing fails is rewound and retried with backoff (never skipped). A
    failed offset commit is counted and the loop goes on: the effects are committed with their inbox
    rows, so a redelivery is dropped. Its offsets stay pending: the next commit carries them with its
    own, and a loop that goes idle retries them (backing off to ``IDLE_COMMIT_BACKOFF_MAX_S``), so the
    group's committed offsets, and the lag measured from them, reach the end of what was handled even
    when the last batch before a quiet spell was the one whose commit failed. After
    ``consumer_max_commit_failures`` failed batch commits in a row the loop raises, for its supervisor
    to restart it with a fresh consumer. Offsets are committed only for partitions still assigned: a partition
    revoked by a rebalance belongs to another member, which resumes from the last committed offset
    (the inbox makes the overlap harmless). A fatal client error raises :class:`ConsumerFatal`.
    """

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
        self.lag = LagMonitor(settings, self.group)
        self.assigned: set[tuple[str, int]] = set()
        self.pending: dict[tuple[str, int], int] = {}  # (broker topic, partition) -> next offset to commit
        self.commit_failures = 0
        self._idle_retry_at = 0.0
        self._idle_backoff = IDLE_COMMIT_BACKOFF_S

    def _assigned(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.lag.assign(partitions)
        self.assigned.update((tp.topic, tp.partition) for tp in partitions)
        self.ready.set()

    def _revoked(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.lag.revoke(partitions)
        REVOKED.labels(self.group).inc(len(partitions))
        for tp in partitions:
            self.assigned.discard((tp.topic, tp.partition))
            self.pending.pop((tp.topic, tp.partition), None)  # the new owner resumes from the last commit

    def make_consumer(self) -> Consumer:
        return Consumer(consumer_config(self.settings, self.group))

    def run(self, stop: threading.Event) -> None:
        consumer = self.make_consumer()
        self.consumer = consumer
        self.assigned = set()
        self.pending = {}
        self.commit_failures = 0
        prefix = self.settings.kafka_topic_prefix
        consumer.subscribe(
            [prefix + t for t in self.topics],
            on_assign=self._assigned,
            on_revoke=self._revoked,
            on_lost=self._revoked,
        )
        lag_stop = threading.Event()
        lag_thread = threading.Thread(
            target=self.lag.run,
            args=(lag_stop, self.settings.kafka_lag_interval_s),
            name=f"{self.group}-lag",
            daemon=True,
        )
        lag_thread.start()
        backoff = 0.5
        try:
            while not stop.is_set():
                messages = consumer.consume(
                    self.settings.kafka_batch_size, self.settings.kafka_poll_timeout_s
                )
                if not messages:
                    if self.pending and not stop.is_set():
                        self._retry_pending(consumer)
                    continue
                records = []
                for msg in messages:
                    err = msg.error()
                    if err is not None:
                        if err.fatal():
                            raise ConsumerFatal(str(err))
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
        finally:
            lag_stop.set()
            try:
                consumer.close()
            except (KafkaException, RuntimeError) as exc:
                log.warning("closing consumer: %s", exc)
            lag_thread.join(timeout=self.lag.timeout_s * 2)

    def _hold(self, records: list[Record]) -> None:
        """Add the batch's next offsets to the pending ones (partitions still assigned only)."""
        prefix = self.settings.kafka_topic_prefix
        for r in records:
            key = (prefix + r.topic, r.partition)
            if key in self.assigned and self.pending.get(key, -1) <= r.offset:
                self.pending[key] = r.offset + 1

    def _commit_pending(self, consumer: Consumer) -> None:
        """Commit every pending offset; they stay pending if the broker refuses."""
        self.pending = {key: offset for key, offset in self.pending.items() if key in self.assigned}
        if self.pending:
            offsets = [TopicPartition(t, p, o) for (t, p), o in self.pending.items()]
            consumer.commit(offsets=offsets, asynchronous=False)
            self.pending = {}

    def _commit(self, consumer: Consumer, records: list[Record]) -> None:
        self._hold(records)
        try:
            self._commit_pending(consumer)
        except KafkaException as exc:
            self._refused(exc)
            self.commit_failures += 1
            log.warning(
                "offset commit failed (%s in a row): %s; the inbox drops what is redelivered",
                self.commit_failures,
                exc,
            )
            if self.commit_failures >= self.settings.consumer_max_commit_failures:
                raise
            self._idle_retry_at, self._idle_backoff = 0.0, IDLE_COMMIT_BACKOFF_S
            return
        self.commit_failures = 0

    def _retry_pending(self, consumer: Consumer) -> None:
        """An idle loop commits what a refused commit left pending, backing off while it is refused.

        These retries never count toward ``consumer_max_commit_failures``: a broker that is away stops
        the loop from committing, not from working, and the next batch's commit escalates as usual.
        """
        now = time.monotonic()
        if now < self._idle_retry_at:
            return
        try:
            self._commit_pending(consumer)
        except KafkaException as exc:
            self._refused(exc)
            wait, self._idle_backoff = (
                self._idle_backoff,
                min(self._idle_backoff * 2, IDLE_COMMIT_BACKOFF_MAX_S),
            )
            self._idle_retry_at = now + wait
            log.info("pending offset commit refused again (next try in %.1fs): %s", wait, exc)
            return
        log.info("pending offsets committed after an earlier refusal")
        self.commit_failures = 0
        self._idle_retry_at, self._idle_backoff = 0.0, IDLE_COMMIT_BACKOFF_S

    def _refused(self, exc: KafkaException) -> None:
        error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
        if error is not None and error.fatal():
            raise ConsumerFatal(str(error)) from exc
        COMMIT_FAILURES.labels(self.group).inc()

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
