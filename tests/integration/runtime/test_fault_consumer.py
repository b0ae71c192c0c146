"""The supervised consumer loop: commit failures, revoked partitions, crashes, not live, exit code.

A fake confluent-kafka consumer and processor: the loop's own decisions, without a broker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from fastapi import FastAPI
from fastapi.testclient import TestClient

from libs.runtime.settings import PlatformSettings
from libs.runtime.transport.base import Record
from libs.runtime.transport.kafka import ConsumerFatal, KafkaConsumerLoop
from libs.runtime.worker import EXIT_NOT_LIVE, LoopSupervisor, liveness_guard, serve

TOPIC = "cobranza.invoices"


class FakeMessage:
    def __init__(self, partition: int, offset: int, error: KafkaError | None = None) -> None:
        self._partition, self._offset, self._error = partition, offset, error

    def error(self) -> KafkaError | None:
        return self._error

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"A1"

    def value(self) -> bytes:
        return b"{}"

    def headers(self) -> list[tuple[str, bytes]]:
        return []


class FakeConsumer:
    """Hands out scripted batches (a callable may act first, e.g. a rebalance), then stops the loop."""

    def __init__(self, batches: list[Any], stop: threading.Event, commit_errors: list[Exception]) -> None:
        self.batches = batches
        self.stop = stop
        self.commit_errors = commit_errors
        self.commits: list[list[tuple[int, int]]] = []
        self.on_assign: Callable[..., None] | None = None
        self.on_revoke: Callable[..., None] | None = None
        self.closed = False

    def subscribe(self, _topics: list[str], on_assign: Any, on_revoke: Any, on_lost: Any) -> None:
        self.on_assign, self.on_revoke = on_assign, on_revoke
        on_assign(self, [TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)])

    def consume(self, _n: int, _timeout: float) -> list[FakeMessage]:
        if not self.batches:
            self.stop.set()
            return []
        batch = self.batches.pop(0)
        if callable(batch):
            return batch(self)  # type: ignore[no-any-return]
        return batch  # type: ignore[no-any-return]

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        if self.commit_errors:
            raise self.commit_errors.pop(0)
        self.commits.append(sorted((tp.partition, tp.offset) for tp in offsets))

    def seek(self, _tp: TopicPartition) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class FakeProcessor:
    spec = type("Spec", (), {"name": "aging"})()

    def __init__(self) -> None:
        self.batches: list[list[tuple[int, int]]] = []

    def process(self, records: list[Record]) -> None:
        self.batches.append([(r.partition, r.offset) for r in records])


def loop_with(
    batches: list[Any], commit_errors: list[Exception], settings: PlatformSettings | None = None
) -> tuple[KafkaConsumerLoop, FakeConsumer, FakeProcessor, threading.Event]:
    stop = threading.Event()
    processor = FakeProcessor()
    loop = KafkaConsumerLoop(
        processor,  # type: ignore[arg-type]
        settings or PlatformSettings(kafka_bootstrap_servers="127.0.0.1:1", kafka_lag_interval_s=60),
        [TOPIC],
    )
    consumer = FakeConsumer(batches, stop, commit_errors)
    loop.make_consumer = lambda: consumer  # type: ignore[assignment, return-value]
    return loop, consumer, processor, stop


def rebalance_error() -> KafkaException:
    return KafkaException(KafkaError(KafkaError.REBALANCE_IN_PROGRESS))


def test_a_failed_commit_is_survived_and_the_next_commit_covers_its_offsets() -> None:
    loop, consumer, processor, stop = loop_with(
        [[FakeMessage(0, 0), FakeMessage(0, 1)], [FakeMessage(0, 2)]], [rebalance_error()]
    )
    loop.run(stop)

    assert processor.batches == [[(0, 0), (0, 1)], [(0, 2)]]
    assert consumer.commits == [[(0, 3)]]  # the first commit failed; the second covers both batches
    assert loop.commit_failures == 0 and consumer.closed


def test_a_failed_last_commit_is_retried_when_the_loop_goes_idle() -> None:
    # the batch before a quiet spell is the one whose commit failed: no next batch will cover it
    loop, consumer, processor, stop = loop_with(
        [[FakeMessage(0, 0), FakeMessage(1, 4)], [], []], [rebalance_error()]
    )
    loop.run(stop)

    assert processor.batches == [[(0, 0), (1, 4)]]
    assert consumer.commits == [[(0, 1), (1, 5)]]  # committed by the first idle poll, once
    assert loop.pending == {} and loop.commit_failures == 0


def test_idle_retries_back_off_and_never_end_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("libs.runtime.transport.kafka.IDLE_COMMIT_BACKOFF_S", 0.0)
    settings = PlatformSettings(
        kafka_bootstrap_servers="127.0.0.1:1", consumer_max_commit_failures=2, kafka_lag_interval_s=60
    )
    refusals = [rebalance_error() for _ in range(5)]  # the batch's own commit, then four idle retries
    loop, consumer, _processor, stop = loop_with([[FakeMessage(0, 0)], *([[]] * 5)], refusals, settings)
    loop.run(stop)  # more refusals than consumer_max_commit_failures, yet no raise

    assert refusals == [] and consumer.commits == [[(0, 1)]]
    assert loop.pending == {}


def test_a_pending_offset_of_a_revoked_partition_is_dropped() -> None:
    def revoke(consumer: FakeConsumer) -> list[FakeMessage]:
        assert consumer.on_revoke is not None
        consumer.on_revoke(consumer, [TopicPartition(TOPIC, 1)])
        return []

    loop, consumer, _processor, stop = loop_with(
        [[FakeMessage(0, 2), FakeMessage(1, 3)], revoke, []], [rebalance_error()]
    )
    loop.run(stop)

    assert consumer.commits == [[(0, 3)]]  # partition 1's new owner resumes from its last commit


def test_commits_failing_in_a_row_end_the_loop_for_its_supervisor() -> None:
    settings = PlatformSettings(
        kafka_bootstrap_servers="127.0.0.1:1", consumer_max_commit_failures=2, kafka_lag_interval_s=60
    )
    loop, consumer, _processor, stop = loop_with(
        [[FakeMessage(0, 0)], [FakeMessage(0, 1)], [FakeMessage(0, 2)]],
        [rebalance_error(), rebalance_error()],
        settings,
    )
    with pytest.raises(KafkaException):
        loop.run(stop)
    assert consumer.closed


def test_a_fatal_client_error_is_fatal() -> None:
    fatal = KafkaError(KafkaError._FATAL, "fenced", fatal=True)
    loop, _consumer, _processor, stop = loop_with([[FakeMessage(0, 0, error=fatal)]], [])
    with pytest.raises(ConsumerFatal):
        loop.run(stop)


def test_offsets_of_revoked_partitions_are_not_committed() -> None:
    def revoke_then_deliver(consumer: FakeConsumer) -> list[FakeMessage]:
        # a rebalance inside this poll takes partition 1 away; its messages were read before
        assert consumer.on_revoke is not None
        consumer.on_revoke(consumer, [TopicPartition(TOPIC, 1)])
        return [FakeMessage(0, 5), FakeMessage(1, 7)]

    loop, consumer, processor, stop = loop_with([revoke_then_deliver], [])
    loop.run(stop)

    assert processor.batches == [[(0, 5), (1, 7)]]  # applied (the inbox drops the new owner's repeat)
    assert consumer.commits == [[(0, 6)]]


# -- the supervisor ------------------------------------------------------------------------------------
def supervised(body: Callable[[threading.Event], None], **settings: Any) -> tuple[LoopSupervisor, list[str]]:
    fatal: list[str] = []
    values: dict[str, Any] = {"consumer_restart_backoff_s": 0.001, **settings}
    supervisor = LoopSupervisor(
        "aging", "consumer", body, threading.Event(), PlatformSettings(**values), fatal.append
    )
    return supervisor, fatal


def test_a_crashed_loop_is_restarted_and_recovers() -> None:
    runs: list[int] = []

    def body(stop: threading.Event) -> None:
        runs.append(1)
        if len(runs) <= 2:
            raise RuntimeError("thread crashed")
        stop.set()  # the third run works until the service stops

    supervisor, fatal = supervised(body)
    supervisor.run()
    assert len(runs) == 3 and fatal == []


def test_a_loop_that_keeps_crashing_makes_the_service_not_live() -> None:
    runs: list[int] = []

    def body(_stop: threading.Event) -> None:
        runs.append(1)
        raise RuntimeError("commit failed")

    supervisor, fatal = supervised(body, consumer_max_restarts=3)
    supervisor.run()
    assert len(runs) == 4
    assert len(fatal) == 1 and "4 crashes" in fatal[0] and "commit failed" in fatal[0]


def test_a_fatal_error_is_not_restarted() -> None:
    def body(_stop: threading.Event) -> None:
        raise ConsumerFatal("producer fenced")

    supervisor, fatal = supervised(body)
    supervisor.run()
    assert fatal == ["consumer: fatal error: producer fenced"]


class FakeWorker:
    def __init__(self) -> None:
        self.ctx = type("Ctx", (), {"not_live": None})()
        self.on_not_live: list[Callable[[], None]] = []

    def fail(self, reason: str) -> None:
        self.ctx.not_live = reason
        for callback in self.on_not_live:
            callback()


class FakeServer:
    def __init__(self, worker: FakeWorker, fail: bool) -> None:
        self.worker, self.fail, self.should_exit = worker, fail, False

    def run(self) -> None:
        if self.fail:  # the consumer's supervisor gives up while the server runs
            self.worker.fail("consumer: 6 crashes")
            assert self.should_exit


def test_a_service_that_is_not_live_stops_with_a_non_zero_exit_code() -> None:
    worker = FakeWorker()
    assert serve(FakeServer(worker, fail=True), worker) == EXIT_NOT_LIVE  # type: ignore[arg-type]
    healthy = FakeWorker()
    assert serve(FakeServer(healthy, fail=False), healthy) == 0  # type: ignore[arg-type]


def test_healthz_answers_503_with_the_reason_once_not_live() -> None:
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    ctx = type("Ctx", (), {"not_live": None})()
    liveness_guard(app, ctx)  # type: ignore[arg-type]
    client = TestClient(app)
    assert client.get("/healthz").status_code == 200
    ctx.not_live = "consumer: 6 crashes within 300s"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "not live", "reason": "consumer: 6 crashes within 300s"}
