"""What the end-to-end benchmarks share: a private ``cobranza up``, its lag and backlog, synthetic items.

``Stack`` starts an embedded PostgreSQL and an embedded Tansu broker of its own (in a temporary
directory, free ports), then ``cobranza up`` as a subprocess pointed at them through
``DATABASE_URL``/``KAFKA_BOOTSTRAP_SERVERS`` (the same supervisor, services and processes as the
embedded default; only who owns the infrastructure differs, so the benchmark can read consumer
offsets and outbox tables). Everything is stopped on exit, whatever happens. The services' HTTP
ports are their fixed ones (8001-8007): another ``cobranza up`` on the machine is refused, not
shared.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from libs.platform.auth_cli import ensure_admin_key
from libs.platform.embedded import EmbeddedKafka, EmbeddedPostgres
from libs.platform.registry import available_specs
from libs.runtime.db import ensure_database, with_database

REPO = Path(__file__).resolve().parents[1]
TENANT = "default"


def machine() -> str:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"nproc {os.cpu_count()}, {model}, load average {load}"


def _port_taken(port: int) -> bool:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@dataclass
class Stack:
    db_url: str
    bootstrap: str
    ports: dict[str, int]
    topics: dict[str, list[str]]
    api_key: str = ""
    up_pid: int = 0
    broker_pid: int = 0

    def client(self, service: str) -> httpx.Client:
        """A client of SERVICE that sends the stack's admin key (every /v1 route needs a credential)."""
        return httpx.Client(
            base_url=f"http://127.0.0.1:{self.ports[service]}",
            timeout=120.0,
            headers={"Authorization": f"Bearer {self.api_key}"},
        )


@contextmanager
def cobranza_up(timeout: float = 300.0) -> Iterator[Stack]:
    specs = available_specs()
    taken = [s.http_port for s in specs if _port_taken(s.http_port)]
    if taken:
        raise SystemExit(f"ports {taken} are in use: another cobranza up is running; stop it first")
    with tempfile.TemporaryDirectory(prefix="bench_e2e_") as tmp:
        root = Path(tmp)
        pg = EmbeddedPostgres(root / "pgdata", ephemeral=True)
        kafka = EmbeddedKafka(root / "logs" / "tansu.log")
        proc: subprocess.Popen[bytes] | None = None
        try:
            server = pg.start()
            ensure_database(server, "cobranza")
            db_url = with_database(server, "cobranza")
            bootstrap = kafka.start()
            env = {
                **os.environ,
                "DATABASE_URL": db_url,
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "COBRANZA_STATE_DIR": str(root / "state"),
                "COBRANZA_LOG_LEVEL": "WARNING",
            }
            log = (root / "up.log").open("wb")
            proc = subprocess.Popen(
                [sys.executable, "-m", "libs.platform.cli", "up"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                start_new_session=True,
            )
            stack = Stack(
                db_url,
                bootstrap,
                {s.name: s.http_port for s in specs},
                {s.name: list(s.topics) for s in specs},
                up_pid=proc.pid,
                broker_pid=kafka.process.pid if kafka.process is not None else 0,
            )
            _wait_ready(stack, proc, root / "up.log", timeout)
            stack.api_key, _ = ensure_admin_key(db_url, root / "state")
            yield stack
        finally:
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(40)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            kafka.stop()
            pg.stop()


def _wait_ready(stack: Stack, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    waiting = set(stack.ports)
    while waiting:
        if proc.poll() is not None:
            raise RuntimeError(f"cobranza up exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"not ready after {timeout:.0f}s: {sorted(waiting)}")
        for name in sorted(waiting):
            try:
                if httpx.get(f"http://127.0.0.1:{stack.ports[name]}/readyz", timeout=2).status_code == 200:
                    waiting.discard(name)
            except httpx.HTTPError:
                pass
        time.sleep(0.5)


class Watcher:
    """Consumer lag (committed offsets vs high watermarks, every group) and unpublished outbox rows."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.admin = AdminClient({"bootstrap.servers": stack.bootstrap})
        self.probe = Consumer(
            {"bootstrap.servers": stack.bootstrap, "group.id": "bench-e2e-probe", "enable.auto.commit": False}
        )
        self.db = psycopg.connect(libpq(stack.db_url), autocommit=True)
        self._partitions: dict[str, list[int]] = {}
        schemas = sorted(stack.ports)
        self._backlog_sql = " UNION ALL ".join(
            f"SELECT '{s}', count(*) FROM {s}.outbox WHERE published_at IS NULL" for s in schemas
        )

    def partitions(self, topic: str) -> list[int]:
        if topic not in self._partitions:
            meta = self.admin.list_topics(topic, timeout=10).topics[topic]
            self._partitions[topic] = sorted(meta.partitions)
        return self._partitions[topic]

    def lag(self) -> dict[str, int]:
        requests = []
        for group, topics in sorted(self.stack.topics.items()):
            tps = [TopicPartition(t, p) for t in topics for p in self.partitions(t)]
            if tps:
                requests.append(ConsumerGroupTopicPartitions(group, tps))
        lag: dict[str, int] = {}
        highs: dict[tuple[str, int], tuple[int, int]] = {}
        for request in requests:
            answer = self.admin.list_consumer_group_offsets([request])[request.group_id].result()
            total = 0
            for tp in answer.topic_partitions:
                key = (tp.topic, tp.partition)
                if key not in highs:
                    highs[key] = self.probe.get_watermark_offsets(TopicPartition(*key), timeout=10)
                low, high = highs[key]
                committed = tp.offset if tp.offset >= 0 else low
                total += max(0, high - committed)
            lag[request.group_id] = total
        return lag

    def records(self) -> dict[str, int]:
        """Records on each topic the services consume (high minus low watermark, every partition)."""
        topics = sorted({t for ts in self.stack.topics.values() for t in ts})
        counts: dict[str, int] = {}
        for topic in topics:
            total = 0
            for partition in self.partitions(topic):
                low, high = self.probe.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                total += high - low
            counts[topic] = total
        return counts

    def consumed(self) -> dict[str, int]:
        """Records each consumer group reads (the sum over the topics it subscribes to)."""
        counts = self.records()
        return {group: sum(counts[t] for t in topics) for group, topics in sorted(self.stack.topics.items())}

    def backlog(self) -> dict[str, int]:
        return {schema: int(n) for schema, n in self.db.execute(self._backlog_sql).fetchall()}

    def wait_quiet(self, timeout: float, poll_s: float = 0.25, on_poll: Any = None) -> float:
        """Until every lag and backlog is zero twice in a row; returns the monotonic time it first was."""
        deadline = time.monotonic() + timeout
        first_zero: float | None = None
        while True:
            now = time.monotonic()
            lag, backlog = self.lag(), self.backlog()
            if on_poll is not None:
                on_poll(now, lag, backlog)
            if not any(lag.values()) and not any(backlog.values()):
                if first_zero is not None:
                    return first_zero
                first_zero = now
            else:
                first_zero = None
            if now > deadline:
                raise TimeoutError(f"not caught up after {timeout:.0f}s: lag {lag}, outbox {backlog}")
            time.sleep(poll_s)

    def close(self) -> None:
        self.probe.close()
        self.db.close()


# -- where the CPU goes ----------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of one live process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(c) for c in found]


def cpu_by_process(stack: Stack, db: psycopg.Connection[Any]) -> dict[str, float]:
    """CPU seconds so far of each service process, of the PostgreSQL backends serving each service
    (by ``application_name``), of the rest of PostgreSQL and of the broker. Only live processes count,
    so take it twice around the measured interval and subtract (``cpu_delta``)."""
    cpu: dict[str, float] = {}
    for child in _children(stack.up_pid):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        name = argv[argv.index(b"run") + 1].decode() if b"run" in argv else "supervisor"
        cpu[name] = cpu.get(name, 0.0) + _cpu_of(child)
    cpu["cobranza up"] = _cpu_of(stack.up_pid)
    rows = db.execute("SELECT pid, application_name FROM pg_stat_activity WHERE pid IS NOT NULL").fetchall()
    backends = {int(pid): str(app or "") for pid, app in rows}
    for pid, app in backends.items():
        service = app.split("-", 1)[1] if app.startswith("cobranza-") else "other"
        key = f"pg {service}"
        cpu[key] = cpu.get(key, 0.0) + _cpu_of(pid)
    own = db.info.backend_pid
    postmaster = int(Path(f"/proc/{own}/stat").read_text().rsplit(")", 1)[1].split()[1])
    background = [pid for pid in _children(postmaster) if pid not in backends]
    cpu["pg background"] = _cpu_of(postmaster) + sum(_cpu_of(pid) for pid in background)
    if stack.broker_pid:
        cpu["broker"] = _cpu_of(stack.broker_pid)
    return cpu


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before.get(k, 0.0) for k in after if after[k] - before.get(k, 0.0) > 0.005}


def cpu_report(delta: dict[str, float], events: int, consumed: dict[str, int]) -> str:
    """The interval's CPU per process: seconds, µs per input event and, for a service, µs per record
    its consumer group read (``consumed``)."""
    total = sum(delta.values())
    lines = [f"  CPU in the interval: {total:.1f} s ({total / max(events, 1) * 1e6:,.0f} µs per input event)"]
    for name, seconds in sorted(delta.items(), key=lambda kv: -kv[1]):
        line = f"    {name:<22} {seconds:7.2f} s  {seconds / max(events, 1) * 1e6:8,.0f} µs/input event"
        read = consumed.get(name.removeprefix("pg "), 0)
        if read:
            line += f"  {seconds / read * 1e6:8,.0f} µs per record read ({read:,} records)"
        lines.append(line)
    return "\n".join(lines)


# -- synthetic items -------------------------------------------------------------------------


def account(n: int) -> str:
    return f"ACC-{n:07d}"


def customer_item(n: int, timezone: str = "America/Bogota") -> dict[str, Any]:
    phone = f"+5730{n:08d}"
    return {
        "customer_id": f"CUS-{n:07d}",
        "account_ids": [account(n)],
        "name": f"Cliente {n}",
        "kind": "person",
        "document_id": f"CC-{10_000_000 + n}",
        "email": f"cliente{n}@example.com",
        "phone": phone,
        "country": "CO",
        "timezone": timezone,
        "contact_points": [
            {"channel": "email", "value": f"cliente{n}@example.com", "consent": True, "primary": True},
            {"channel": "sms", "value": phone, "consent": True},
        ],
    }


def invoice_item(n: int, today: date, overdue_days: int = 20) -> dict[str, Any]:
    due = today - timedelta(days=overdue_days)
    return {
        "invoice_id": f"INV-{n:07d}",
        "account_id": account(n),
        "customer": {k: v for k, v in customer_item(n).items() if k not in ("account_ids", "contact_points")},
        "amount": f"{100_000 + (n % 997) * 100}.00",
        "currency": "COP",
        "issued_on": (due - timedelta(days=15)).isoformat(),
        "due_on": due.isoformat(),
        "product_line": "auto",
        "policy_number": f"POL-{n:07d}",
    }


def payment_item(n: int, today: date) -> dict[str, Any]:
    return {
        "payment_id": f"PAY-{n:07d}",
        "account_id": account(n),
        "amount": f"{100_000 + (n % 997) * 100}.00",
        "currency": "COP",
        "received_on": today.isoformat(),
        "method": "pse",
        "reference": f"INV-{n:07d}",
    }


def post_bulk(
    stack: Stack, path: str, items: Sequence[dict[str, Any]], source: str, batch: int, workers: int = 4
) -> None:
    """POST ``items`` to ingest's bulk endpoint ``batch`` a request, ``workers`` requests at a time."""
    chunks = [items[i : i + batch] for i in range(0, len(items), batch)]

    def send(chunk: Sequence[dict[str, Any]]) -> None:
        with stack.client("ingest") as client:
            answer = client.post(
                path,
                json={"items": list(chunk)},
                headers={"X-Source-System": source},
            )
        if answer.status_code != 200:
            raise RuntimeError(f"{path}: HTTP {answer.status_code}: {answer.text[:500]}")
        bad = [r for r in answer.json()["items"] if r.get("status") not in ("accepted", "duplicate")]
        if bad:
            raise RuntimeError(f"{path}: {len(bad)} items refused, first: {bad[0]}")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(send, chunks))


def broker_reference(bootstrap: str, n: int, size: int = 600, timeout: float = 300.0) -> float:
    """Raw produce→consume rate of the same broker: n records of ``size`` bytes through one topic."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import NewTopic

    topic = f"bench-e2e-raw-{os.getpid()}-{n}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])[topic].result()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": topic,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    joined = time.monotonic() + timeout
    while not consumer.assignment():  # the group's join is set-up, not throughput
        consumer.poll(0.1)
        if time.monotonic() > joined:
            raise TimeoutError("raw broker: the consumer got no partitions")
    payload = b"x" * size
    started = time.monotonic()
    for i in range(n):
        while True:
            try:
                producer.produce(topic, payload, key=f"ACC-{i % 10_000:07d}".encode())
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(timeout)
    seen = 0
    while seen < n:
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"raw broker: {seen}/{n} consumed after {timeout:.0f}s")
        records = consumer.consume(1000, timeout=1.0)
        seen += sum(1 for r in records if r.error() is None)
        if records:
            consumer.commit(asynchronous=True)
    elapsed = time.monotonic() - started
    consumer.close()
    admin.delete_topics([topic])
    return n / elapsed
