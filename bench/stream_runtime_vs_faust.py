"""Benchmark: what one consumed event costs on Faust, on raw confluent-kafka and on cobranza's runtime.

    .venv/bin/python bench/stream_runtime_vs_faust.py [--events 50000]

Against a real broker (``KAFKA_BOOTSTRAP_SERVERS`` if set, else the embedded Tansu),
produces N ``cobranza.payment.received`` CloudEvents (libs.events envelopes, ~450
bytes each, uncompressed so every client reads the same bytes) to a fresh
6-partition topic, then drains it with three consumers, one after the other,
each in its own consumer group:

  1. faust       a trivial Faust agent (faust-streaming, memory store) that
                 ``json.loads`` each value and counts; run as a subprocess worker
                 that stops itself at N;
  2. confluent   a raw confluent-kafka batched consumer: ``consume(500, 0.5)`` + ``json.loads``;
  3. cobranza    ``KafkaConsumerLoop`` + ``EventProcessor`` with a no-op handler on
                 Postgres: envelope + payload validation, inbox row, savepoint,
                 one transaction and one offset commit per batch.

Times are measured from the first record received to the N-th processed (group
join and start-up excluded; they are printed apart). CPU is the consumer
process's user+system time over that window (all its threads: librdkafka's
included), plus, for cobranza, the Postgres server's CPU over the same window.
Postgres: ``DATABASE_URL`` if set, else an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SESSION_TIMEOUT_S = 6  # Tansu's group join waits half the session timeout
BATCH = 500
POLL_S = 0.5


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Measure:
    consumer: str
    events: int
    wall_s: float
    cpu_s: float
    startup_s: float
    server_cpu_s: float | None = None

    @property
    def rate(self) -> float:
        return self.events / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.events * 1e6

    @property
    def server_cpu_us(self) -> float | None:
        return None if self.server_cpu_s is None else self.server_cpu_s / self.events * 1e6


# -- the Faust worker (runs in a subprocess: ``--faust-worker``) ------------------
def faust_worker(bootstrap: str, topic_name: str, events: int, out: Path) -> None:
    import faust

    app = faust.App(
        f"bench-faust-{os.getpid()}",
        broker=f"kafka://{bootstrap}",
        broker_session_timeout=SESSION_TIMEOUT_S,
        broker_heartbeat_interval=1,
        store="memory://",
        web_enabled=False,
        topic_partitions=6,
        datadir=tempfile.mkdtemp(prefix="bench-faust-"),
    )
    topic = app.topic(topic_name, value_serializer="raw")
    state: dict[str, Any] = {"count": 0}
    launched = time.perf_counter()

    @app.agent(topic)
    async def count(stream: Any) -> None:
        async for value in stream:
            json.loads(value)
            if state["count"] == 0:
                state["t0"], state["c0"] = time.perf_counter(), cpu_self()
            state["count"] += 1
            if state["count"] == events:
                result = {
                    "events": events,
                    "wall_s": time.perf_counter() - state["t0"],
                    "cpu_s": cpu_self() - state["c0"],
                    "startup_s": state["t0"] - launched,
                }
                out.write_text(json.dumps(result))
                # app.stop() from inside the agent waits for this very task: leave without it
                os._exit(0)

    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    worker.execute_from_commandline()


def run_faust(bootstrap: str, topic: str, events: int, timeout: float) -> Measure:
    out = Path(tempfile.mkdtemp(prefix="bench-faust-out-")) / "result.json"
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--faust-worker", bootstrap, topic, str(events), str(out)],
        cwd=REPO,
    )
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise SystemExit(f"faust did not count {events} events in {timeout:.0f} s") from None
    if not out.exists():
        raise SystemExit(f"faust worker exited with {proc.returncode} without a result")
    r = json.loads(out.read_text())
    print(f"  faust subprocess total {time.perf_counter() - started:.1f} s", flush=True)
    return Measure("faust agent (aiokafka)", r["events"], r["wall_s"], r["cpu_s"], r["startup_s"])


# -- raw confluent-kafka ------------------------------------------------------
def run_confluent(bootstrap: str, topic: str, events: int) -> Measure:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-raw-{os.getpid()}",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": SESSION_TIMEOUT_S * 1000,
            "heartbeat.interval.ms": 2000,
        }
    )
    launched = time.perf_counter()
    consumer.subscribe([topic])
    count, t0, c0 = 0, 0.0, 0.0
    try:
        while count < events:
            messages = consumer.consume(BATCH, POLL_S)
            for msg in messages:
                if msg.error() is not None:
                    continue
                if count == 0:
                    t0, c0 = time.perf_counter(), cpu_self()
                json.loads(msg.value() or b"null")
                count += 1
        wall, cpu = time.perf_counter() - t0, cpu_self() - c0
    finally:
        consumer.close()
    return Measure("confluent-kafka consume(500)", count, wall, cpu, t0 - launched)


# -- cobranza's runtime ------------------------------------------------------
def bench_spec(migrations_dir: Path) -> Any:
    from sqlalchemy import MetaData

    from libs.events.payloads.payments import PaymentReceived
    from libs.runtime.service import ServiceSpec

    def noop(_event: Any, _uow: Any) -> None:
        return None

    return ServiceSpec(
        name="benchsvc",
        metadata=MetaData(schema="benchsvc"),
        migrations_dir=migrations_dir,
        handlers={PaymentReceived.event_type: noop},
        description="benchmark-only service: a no-op payment handler",
    )


class PostgresCpu:
    """User+system CPU of the embedded PostgreSQL's processes (postmaster and backends)."""

    def __init__(self, pgdata: Path | None) -> None:
        self.root: Any = None
        if pgdata is None:
            return
        import psutil

        for proc in psutil.process_iter(["name", "cmdline"]):
            cmd = " ".join(proc.info["cmdline"] or [])
            if "postgres" in (proc.info["name"] or "") and str(pgdata) in cmd:
                self.root = proc
                break

    def sample(self) -> dict[int, float]:
        if self.root is None:
            return {}
        import psutil

        times: dict[int, float] = {}
        for proc in [self.root, *self.root.children(recursive=True)]:
            try:
                t = proc.cpu_times()
                times[proc.pid] = t.user + t.system
            except psutil.Error:
                continue
        return times

    @staticmethod
    def delta(before: dict[int, float], after: dict[int, float]) -> float:
        return sum(v - before.get(pid, 0.0) for pid, v in after.items())


def run_cobranza(bootstrap: str, prefix: str, events: int, server_url: str, pgdata: Path | None) -> Measure:
    from libs.events.catalog import Topics
    from libs.runtime.context import ServiceContext
    from libs.runtime.db import drop_database, ensure_database, make_engine, provision_service, with_database
    from libs.runtime.processor import BatchResult, EventProcessor
    from libs.runtime.settings import PlatformSettings
    from libs.runtime.transport.base import Record
    from libs.runtime.transport.kafka import KafkaConsumerLoop

    spec = bench_spec(Path(tempfile.mkdtemp(prefix="bench-migrations-")))
    name = f"cobranza_bench_stream_{os.getpid()}"
    drop_database(server_url, name)
    ensure_database(server_url, name)
    url = with_database(server_url, name)
    admin = make_engine(url, pool_size=1)
    provision_service(admin, spec.name)
    admin.dispose()
    settings = PlatformSettings(
        kafka_bootstrap_servers=bootstrap,
        kafka_topic_prefix=prefix,
        kafka_session_timeout_ms=SESSION_TIMEOUT_S * 1000,
        kafka_batch_size=BATCH,
        kafka_poll_timeout_s=POLL_S,
    )
    ctx = ServiceContext.create(spec, url, settings=settings)
    spec.metadata.create_all(ctx.engine)
    pg = PostgresCpu(pgdata)
    stop = threading.Event()
    state: dict[str, Any] = {"count": 0}

    class CountingProcessor(EventProcessor):
        def process(self, records: list[Record]) -> BatchResult:
            if records and state["count"] == 0:
                state["t0"], state["c0"], state["pg0"] = time.perf_counter(), cpu_self(), pg.sample()
            result = super().process(records)
            state["count"] += result.processed
            if result.dead_lettered:
                raise SystemExit(f"unexpected dead letters: {result.reasons[:3]}")
            if state["count"] >= events:
                state["t1"], state["c1"], state["pg1"] = time.perf_counter(), cpu_self(), pg.sample()
                stop.set()
            return result

    loop = KafkaConsumerLoop(CountingProcessor(ctx), settings, [Topics.PAYMENTS], group="bench-cobranza")
    launched = time.perf_counter()
    try:
        loop.run(stop)
        server_cpu = PostgresCpu.delta(state["pg0"], state["pg1"]) if pg.root is not None else None
        return Measure(
            "cobranza runtime (inbox+txn)",
            state["count"],
            state["t1"] - state["t0"],
            state["c1"] - state["c0"],
            state["t0"] - launched,
            server_cpu,
        )
    finally:
        ctx.dispose()
        drop_database(server_url, name)


# -- the input ------------------------------------------------------------------
def produce(bootstrap: str, prefix: str, events: int) -> str:
    from confluent_kafka import Producer

    from libs.events.catalog import CATALOG, Topics
    from libs.events.envelope import Envelope
    from libs.events.payloads.payments import PaymentReceived
    from libs.runtime.transport.kafka import ensure_topics, producer_config

    spec = next(s for s in CATALOG if s.name == Topics.PAYMENTS)
    ensure_topics(bootstrap, (spec,), prefix=prefix)
    topic = prefix + Topics.PAYMENTS
    # aiokafka (Faust) needs the optional lz4 package for the relay's lz4: produce uncompressed for all
    producer = Producer({**producer_config(bootstrap, "bench-producer"), "compression.type": "none"})
    at = datetime(2026, 6, 1, 15, tzinfo=UTC)
    started = time.perf_counter()
    size = 0
    for i in range(events):
        payment = PaymentReceived(
            payment_id=f"PAY{i:08d}",
            account_id=f"ACC{i % 5000:06d}",
            amount=Decimal("125000.00") + i % 997,
            currency="COP",
            received_on=date(2026, 6, 1),
            method="pse",
            reference=f"INV{i:08d}",
        )
        envelope = Envelope(
            id=f"bench-{prefix}{i}",
            source="/cobranza/bench",
            type=payment.event_type,
            time=at,
            subject=payment.subject(),
            data=payment.model_dump(mode="json", exclude_none=True),
            correlationid=f"bench-{i}",
        )
        value = envelope.to_json_bytes()
        size += len(value)
        while True:
            try:
                producer.produce(
                    topic, value=value, key=envelope.subject.encode() if envelope.subject else None
                )
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(60):
        raise SystemExit("producer did not deliver every record")
    print(
        f"produced {events:,} records ({size / events:.0f} B avg) to {topic} "
        f"in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return topic


def table(results: list[Measure]) -> str:
    lines = [
        "| consumer | events | wall s | events/s | CPU µs/event (consumer) | + Postgres CPU µs/event | join s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m in results:
        server = "" if m.server_cpu_us is None else f"{m.server_cpu_us:,.0f}"
        lines.append(
            f"| {m.consumer} | {m.events:,} | {m.wall_s:.2f} | {m.rate:,.0f} | {m.cpu_us:,.1f} "
            f"| {server} | {m.startup_s:.1f} |"
        )
    return "\n".join(lines)


def run(bootstrap: str, server_url: str, pgdata: Path | None, events: int, faust_timeout: float) -> None:
    prefix = f"bench{os.getpid()}t{int(time.time())}."
    topic = produce(bootstrap, prefix, events)
    results = []
    print("faust …", flush=True)
    results.append(run_faust(bootstrap, topic, events, faust_timeout))
    print("confluent-kafka …", flush=True)
    results.append(run_confluent(bootstrap, topic, events))
    print("cobranza runtime …", flush=True)
    results.append(run_cobranza(bootstrap, prefix, events, server_url, pgdata))
    print(table(results))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--faust-worker":
        worker_bootstrap, topic, events, out = sys.argv[2:6]
        sys.argv = [sys.argv[0], "worker"]
        faust_worker(worker_bootstrap, topic, int(events), Path(out))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument(
        "--faust-timeout", type=float, default=600.0, help="seconds before giving up on Faust"
    )
    args = parser.parse_args()

    from libs.platform.embedded import EmbeddedKafka, EmbeddedPostgres

    tmp = Path(tempfile.mkdtemp(prefix="cobranza-bench-stream-"))
    kafka: EmbeddedKafka | None = None
    pg: EmbeddedPostgres | None = None
    try:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            kafka = EmbeddedKafka(tmp / "tansu.log")
            bootstrap = kafka.start()
        server_url = os.environ.get("DATABASE_URL")
        pgdata: Path | None = None
        if not server_url:
            pgdata = tmp / "pgdata"
            pg = EmbeddedPostgres(pgdata, ephemeral=True)
            server_url = pg.start()
        run(bootstrap, server_url, pgdata, args.events, args.faust_timeout)
    finally:
        if pg is not None:
            pg.stop()
        if kafka is not None:
            kafka.stop()


if __name__ == "__main__":
    main()
