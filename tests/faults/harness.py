"""What the fault runs share: envelopes, service processes, "quiet", a portfolio and what it ends as.

* ``invoice_envelope(n)``: an inbound ``invoice.issued`` (the fault runs of ingest/aging and
  tests/integration/runtime/test_fault_runtime.py build theirs with it).
* ``Stack``: services as processes (``cobranza service run NAME``) on one database and broker, each
  on a port of its own that a restart keeps; ``kill`` is ``kill -9``.
* ``Quiet``: every consumer group's lag (committed offsets against high watermarks, every
  subscribed partition), every outbox backlog and every due timer at zero.
* ``Portfolio`` / ``run_portfolio``: customers, then invoices, then payments posted through
  ingest's bulk API (each phase waited out until quiet, so the result does not depend on timing),
  with a fault injected during one phase; ``outcome`` reads what the run ended as, to compare with
  a clean run of the same input.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.platform.registry import SERVICE_NAMES, load_spec
from libs.runtime.context import ServiceContext
from libs.runtime.settings import PlatformSettings, sqlalchemy_url

REPO = Path(__file__).resolve().parents[2]
TENANT = "default"
OUTAGE_S = float(os.environ.get("COBRANZA_FAULT_OUTAGE_S", "30"))  # how long a broker or database is down


# -- envelopes ---------------------------------------------------------------------------------------
def invoice_envelope(
    n: int,
    account: str | None = None,
    *,
    width: int = 4,
    accounts: int = 40,
    amount: str = "1000.00",
    event_id: str | None = None,
) -> Envelope:
    """Invoice ``I<n>`` (zero-padded to ``width``) of ``account`` (default ``A<n % accounts>``)."""
    account = account or f"A{n % accounts}"
    return Envelope(
        id=event_id or f"inv-{n}",
        source="/core/policy",
        type="cobranza.invoice.issued",
        time=datetime(2026, 1, 5, 15, tzinfo=UTC),
        subject=account,
        data={
            "invoice_id": f"I{n:0{width}d}",
            "account_id": account,
            "customer": {
                "customer_id": f"C-{account}",
                "name": "Ana",
                "kind": "person",
                "country": "CO",
                "timezone": "America/Bogota",
            },
            "amount": amount,
            "currency": "COP",
            "issued_on": "2026-01-05",
            "due_on": "2026-01-20",
            "product_line": "auto",
        },
    )


def produce(bootstrap: str, topic: str, envelopes: Sequence[Envelope]) -> None:
    """Publish envelopes keyed by subject (as a core system would), all acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for e in envelopes:
        producer.produce(topic, key=(e.subject or "").encode(), value=e.to_json_bytes())
    assert producer.flush(30) == 0


def count(ctx: ServiceContext, query: Any) -> int:
    with ctx.sessions() as session:
        return int(session.execute(query).scalar_one())


# -- processes ---------------------------------------------------------------------------------------
def listening_socket() -> socket.socket:
    """A listening socket on a port the kernel picks, for service processes to inherit (``--fd``).

    The harness holds it for the stack's life, so no other program can take the port between a pick
    and a bind, or while a killed service is restarted; replicas of one service share it.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


@dataclass
class Stack:
    """Service processes on one database and broker; logs kept to print when a run fails."""

    database: str
    settings: PlatformSettings
    logs: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)
    sockets: dict[str, socket.socket] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.database,
            "KAFKA_BOOTSTRAP_SERVERS": self.settings.kafka_bootstrap_servers or "",
            "COBRANZA_KAFKA_TOPIC_PREFIX": self.settings.kafka_topic_prefix,
            "COBRANZA_KAFKA_BATCH_SIZE": "50",
            "COBRANZA_RELAY_INTERVAL_S": "0.05",
            "COBRANZA_TIMER_POLL_INTERVAL_S": "0.2",
            "COBRANZA_LOG_JSON": "false",
            **self.extra_env,
        }

    def start(self, service: str) -> subprocess.Popen[bytes]:
        """Start SERVICE on its socket (the one it had: a restart keeps the port; a second one is a
        replica sharing it). Requests sent while it is down wait in the socket's backlog."""
        if service not in self.sockets:
            self.sockets[service] = listening_socket()
        fd = self.sockets[service].fileno()
        log = self.logs / f"{service}-{len(self.processes)}.log"
        command = [sys.executable, "-m", "libs.platform.cli", "service", "run", service, "--fd", str(fd)]
        process = subprocess.Popen(
            command,
            env=self.env(),
            cwd=REPO,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            pass_fds=(fd,),
        )
        self.processes.append((service, process, log))
        return process

    def process(self, service: str) -> subprocess.Popen[bytes]:
        """The latest process started for SERVICE."""
        return next(p for name, p, _ in reversed(self.processes) if name == service)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.sockets[service].getsockname()[1]}"

    def ready(self, service: str) -> bool:
        process = self.process(service)
        if process.poll() is not None:
            self.dump_logs()
            raise AssertionError(f"{service} exited with {process.returncode}")
        try:
            return httpx.get(self.url(service) + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for _name, process, _log in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _name, process, _log in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    def close(self) -> None:
        """Stop every process and release the sockets."""
        self.stop_all()
        for sock in self.sockets.values():
            sock.close()
        self.sockets.clear()

    def dump_logs(self) -> None:
        """The tail of each log, without librdkafka's own lines (``%3|…``: a broker down floods them)."""
        for name, _process, log in self.processes:
            lines = [
                line for line in log.read_text(errors="replace").splitlines() if not line.startswith("%")
            ]
            print(f"--- {name} {log}\n" + "\n".join(lines)[-4000:])


def wait_for(condition: Callable[[], bool], timeout: float, what: str, stack: Stack | None = None) -> None:
    """Poll ``condition`` until it holds; else print the stack's logs and fail naming ``what``."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        if condition():
            return
        pause.wait(0.2)
    if stack is not None:
        stack.dump_logs()
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# -- quiet -------------------------------------------------------------------------------------------
_RETIRED: list[tuple[AdminClient, Consumer]] = []  # clients that failed, kept alive (see Quiet.lag)


class Quiet:
    """Lag of every consumer group, unpublished outbox rows and due timers of every service."""

    def __init__(self, stack: Stack, services: Sequence[str]) -> None:
        self.stack = stack
        self.services = list(services)
        self.engine: Engine = create_engine(sqlalchemy_url(stack.database), pool_size=1, pool_pre_ping=True)
        self.last: dict[str, Any] = {}
        self._pair: tuple[AdminClient, Consumer] | None = None

    def _clients(self) -> tuple[AdminClient, Consumer]:
        if self._pair is None:
            bootstrap = self.stack.settings.kafka_bootstrap_servers or ""
            self._pair = (
                AdminClient({"bootstrap.servers": bootstrap}),
                Consumer(
                    {"bootstrap.servers": bootstrap, "group.id": "fault-probe", "enable.auto.commit": False}
                ),
            )
        return self._pair

    def lag(self) -> dict[str, int]:
        """Asked with one pair of clients until a question fails; then with a new pair: one made before
        a broker restart can keep asking the broker that is gone (a Tansu restarted on its port is a
        new cluster). A failed pair is kept, never destroyed: librdkafka can crash the process when a
        client is destroyed while its broker is down."""
        admin, probe = self._clients()
        prefix = self.stack.settings.kafka_topic_prefix
        lags: dict[str, int] = {}
        try:
            meta = admin.list_topics(timeout=10).topics
            for service in self.services:
                topics = [prefix + t for t in load_spec(service).topics]
                if not topics:
                    continue
                tps = [TopicPartition(t, p) for t in topics for p in sorted(meta[t].partitions)]
                request = ConsumerGroupTopicPartitions(service, tps)
                answer = admin.list_consumer_group_offsets([request], request_timeout=10)[service].result()
                total = 0
                for tp in answer.topic_partitions:
                    low, high = probe.get_watermark_offsets(
                        TopicPartition(tp.topic, tp.partition), timeout=10, cached=False
                    )
                    total += max(0, high - (tp.offset if tp.offset >= 0 else low))
                lags[service] = total
        except BaseException:
            _RETIRED.append((admin, probe))
            self._pair = None
            raise
        return lags

    def backlog(self) -> dict[str, int]:
        union = " UNION ALL ".join(
            f"SELECT '{s}', (SELECT count(*) FROM {s}.outbox WHERE published_at IS NULL)"
            f" + (SELECT count(*) FROM {s}.timers WHERE fire_at <= now())"
            for s in self.services
        )
        with self.engine.connect() as conn:
            return {name: int(n) for name, n in conn.execute(text(union)).all()}

    def now(self) -> bool:
        try:
            lag, backlog = self.lag(), self.backlog()
        except (KafkaException, OSError, SQLAlchemyError, KeyError) as exc:  # coming back
            self.last = {"error": str(exc)}
            return False
        self.last = {"lag": lag, "backlog": backlog}
        return not any(lag.values()) and not any(backlog.values())

    def wait(self, timeout: float) -> None:
        """Until quiet twice in a row (an event in flight between two services shows in between)."""
        streak = [0]

        def twice() -> bool:
            streak[0] = streak[0] + 1 if self.now() else 0
            return streak[0] >= 2

        try:
            wait_for(twice, timeout, "every lag, outbox and due timer to reach zero", self.stack)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen {self.last}") from None

    def close(self) -> None:
        if self._pair is not None:
            _RETIRED.append(self._pair)  # the broker may be down when the run fails: keep, never destroy
            self._pair = None
        self.engine.dispose()


# -- the portfolio -----------------------------------------------------------------------------------
def daytime_zone(now: datetime | None = None) -> str:
    """A fixed-offset zone where it is about 13:00 now: the US preset's window (08:00-21:00 every day,
    no holiday closing, no daily cap) stays open for hours whenever the suite runs."""
    hour = (now or datetime.now(UTC)).hour
    offset = (13 - hour + 12) % 24 - 12  # UTC+offset, in -12..11
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"  # the Etc names' sign is inverted


SMS_PLAYBOOK = {
    "name": "default",
    "steps": [{"name": "sms_mora", "day": 0, "channel": "sms", "template": "sms_mora"}],
}


@dataclass(frozen=True)
class Portfolio:
    """``accounts`` debtors in ``zone``, each a COP invoice 20 days overdue (every fifth a USD one
    too); payments: full, partial, to unknown accounts (suspense), and a slice sent twice."""

    zone: str
    accounts: int = 240

    @property
    def today(self) -> date:
        return datetime.now(UTC).astimezone(_zone(self.zone)).date()

    def account(self, n: int) -> str:
        return f"F-{n:05d}"

    def customers(self) -> list[dict[str, Any]]:
        items = []
        for n in range(self.accounts):
            phone = f"+1415{2_000_000 + n:07d}"
            email = f"deudor{n}@example.com"
            items.append(
                {
                    "customer_id": f"C-{n:05d}",
                    "account_ids": [self.account(n)],
                    "name": f"Deudor {n}",
                    "kind": "person",
                    "email": email,
                    "phone": phone,
                    "country": "US",
                    "timezone": self.zone,
                    "contact_points": [
                        {"channel": "sms", "value": phone, "consent": True, "primary": True},
                        {"channel": "email", "value": email, "consent": True},
                    ],
                }
            )
        return items

    def _invoice(self, n: int, currency: str, amount: Decimal) -> dict[str, Any]:
        due = self.today - timedelta(days=20)
        return {
            "invoice_id": f"INV-{currency}-{n:05d}",
            "account_id": self.account(n),
            "customer": {
                "customer_id": f"C-{n:05d}",
                "name": f"Deudor {n}",
                "kind": "person",
                "country": "US",
                "timezone": self.zone,
            },
            "amount": str(amount),
            "currency": currency,
            "issued_on": (due - timedelta(days=15)).isoformat(),
            "due_on": due.isoformat(),
            "product_line": "auto",
        }

    def cop(self, n: int) -> Decimal:
        return Decimal(100_000 + (n % 97) * 1_000)

    def usd(self, n: int) -> Decimal:
        return Decimal("50.25") + n

    def invoices(self) -> list[dict[str, Any]]:
        items = [self._invoice(n, "COP", self.cop(n)) for n in range(self.accounts)]
        items += [self._invoice(n, "USD", self.usd(n)) for n in range(0, self.accounts, 5)]
        return items

    def payments(self) -> list[dict[str, Any]]:
        received = (self.today - timedelta(days=1)).isoformat()

        def payment(pid: str, account: str, amount: Decimal, currency: str, ref: str) -> dict[str, Any]:
            return {
                "payment_id": pid,
                "account_id": account,
                "amount": str(amount),
                "currency": currency,
                "received_on": received,
                "method": "pse",
                "reference": ref,
            }

        items = []
        for n in range(self.accounts):
            ref = f"INV-COP-{n:05d}"
            if n % 4 == 0:
                items.append(payment(f"PAY-{n:05d}", self.account(n), self.cop(n), "COP", ref))
            elif n % 4 == 1:
                items.append(payment(f"PAY-{n:05d}", self.account(n), Decimal(30_000), "COP", ref))
            if n % 10 == 0:
                items.append(
                    payment(f"PAY-USD-{n:05d}", self.account(n), self.usd(n), "USD", f"INV-USD-{n:05d}")
                )
        items += [
            payment(f"PAY-X-{k:03d}", f"F-UNKNOWN-{k:03d}", Decimal(12_345), "COP", f"NOPE-{k}")
            for k in range(12)
        ]
        return items + items[:20]  # the bank sent a slice twice (same payment ids: duplicates)


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


class Poster:
    """Posts items to ingest's bulk API a chunk at a time; a chunk that fails (ingest killed, restarting)
    is sent again until ingest answers, as a core system retries: ingest answers ``duplicate`` for what
    it had already taken."""

    def __init__(self, stack: Stack, tokens: dict[str, str]) -> None:
        self.stack = stack
        self.tokens = tokens
        self.sent = 0
        self.retries = 0

    def post(self, path: str, items: Sequence[dict[str, Any]], source: str, chunk: int = 10) -> None:
        for start in range(0, len(items), chunk):
            body = {"items": list(items[start : start + chunk])}
            deadline = time.monotonic() + 180
            while True:
                try:
                    answer = httpx.post(
                        self.stack.url("ingest") + path,
                        json=body,
                        headers={"Authorization": f"Bearer {self.tokens[source]}"},
                        timeout=30,
                    )
                except httpx.HTTPError:
                    answer = None
                if answer is not None and answer.status_code == 200:
                    break
                if answer is not None and answer.status_code < 500:
                    raise AssertionError(f"{path}: HTTP {answer.status_code}: {answer.text[:500]}")
                if time.monotonic() > deadline:
                    self.stack.dump_logs()
                    raise AssertionError(f"{path}: ingest did not take a chunk within 180 s")
                self.retries += 1
                threading.Event().wait(0.2)  # ingest is down: the client's retry interval
            bad = [r for r in answer.json()["items"] if r.get("status") not in ("accepted", "duplicate")]
            assert not bad, f"{path}: refused {bad[:3]}"
            self.sent += len(body["items"])


PHASES = ("customers", "invoices", "payments")


@dataclass
class Fault:
    """What strikes during ``phase``: ``strike(stack)`` runs while that phase's items are being posted."""

    phase: str
    strike: Callable[[Stack], None]
    struck: list[str] = field(default_factory=list)


def run_portfolio(
    stack: Stack,
    portfolio: Portfolio,
    services: Sequence[str] = SERVICE_NAMES,
    fault: Fault | None = None,
    timeout: float = 300,
) -> dict[str, Any]:
    """Start the services, post the portfolio phase by phase (each waited out until quiet), inject the
    fault, and answer the run's ``outcome``."""
    from tests.support.auth import new_key

    for service in services:
        stack.start(service)
    wait_for(lambda: all(stack.ready(s) for s in services), 300, "every service ready", stack)
    tokens = {
        "core": new_key(stack.database, role="ingest", source="core"),
        "banco": new_key(stack.database, role="ingest", source="banco"),
    }
    supervisor = new_key(stack.database, role="supervisor")
    answer = httpx.post(
        stack.url("strategy") + "/v1/strategies",
        json=SMS_PLAYBOOK,
        headers={"Authorization": f"Bearer {supervisor}"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    quiet = Quiet(stack, services)
    poster = Poster(stack, tokens)
    plan = {
        "customers": ("/v1/customers:bulk", portfolio.customers(), "core"),
        "invoices": ("/v1/invoices:bulk", portfolio.invoices(), "core"),
        "payments": ("/v1/payments:bulk", portfolio.payments(), "banco"),
    }
    try:
        for phase in PHASES:
            path, items, source = plan[phase]
            if fault is not None and fault.phase == phase:
                with _in_background(functools.partial(poster.post, path, items, source)) as posting:
                    fault.strike(stack)
                    fault.struck.append(phase)
                    posting.join()
            else:
                poster.post(path, items, source)
            quiet.wait(timeout)
        return outcome(stack, services) | {"retries": poster.retries}
    finally:
        quiet.close()


class _Background(threading.Thread):
    def __init__(self, body: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.body = body
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.body()
        except BaseException as exc:
            self.error = exc

    def join(self, timeout: float | None = 300) -> None:
        super().join(timeout)
        if self.is_alive():
            raise AssertionError("posting the portfolio did not finish")
        if self.error is not None:
            raise self.error


@contextmanager
def _in_background(body: Callable[[], None]) -> Iterator[_Background]:
    thread = _Background(body)
    thread.start()
    try:
        yield thread
    finally:
        if thread.is_alive():
            thread.join()


def kill_under_load(
    service: str,
    progress: Callable[[Stack], int],
    threshold: int,
    killed_at: Callable[[int], None] = lambda _n: None,
) -> Callable[[Stack], None]:
    """A strike: once ``progress(stack)`` reaches ``threshold``, ``kill -9`` SERVICE and start it again
    (``killed_at`` is told the progress the kill found)."""

    def strike(stack: Stack) -> None:
        wait_for(lambda: progress(stack) >= threshold, 300, f"{service} to be under load", stack)
        stack.kill(stack.process(service))
        killed_at(progress(stack))
        stack.start(service)
        wait_for(lambda: stack.ready(service), 300, f"{service} to start again", stack)

    return strike


def handled(service: str) -> Callable[[Stack], int]:
    """How far SERVICE got: rows in its inbox (ingest, fed over HTTP: rows in its outbox)."""
    table = "outbox" if service == "ingest" else "inbox"

    def progress(stack: Stack) -> int:
        engine = create_engine(sqlalchemy_url(stack.database), pool_size=1)
        try:
            with engine.connect() as conn:
                return int(conn.execute(text(f"SELECT count(*) FROM {service}.{table}")).scalar_one())
        finally:
            engine.dispose()

    return progress


# -- what a run ends as ------------------------------------------------------------------------------
_QUERIES = {
    "reconciliation_balances": """
        SELECT account_id, currency, sum(amount)::text AS invoiced, sum(open_amount)::text AS open
          FROM reconciliation.invoices GROUP BY account_id, currency ORDER BY account_id, currency""",
    "reconciliation_payments": """
        SELECT payment_id, account_id, currency, amount::text, status
          FROM reconciliation.payments ORDER BY payment_id""",
    "reconciliation_allocations": """
        SELECT account_id, currency, count(*), sum(amount)::text FROM reconciliation.allocations
         GROUP BY account_id, currency ORDER BY account_id, currency""",
    "reconciliation_credits": """
        SELECT payment_id, account_id, currency, amount::text FROM reconciliation.credits ORDER BY payment_id""",
    "aging_invoices": """
        SELECT invoice_id, account_id, currency, open_amount::text FROM aging.invoices ORDER BY invoice_id""",
    "reporting_balances": """
        SELECT account_id, currency, bucket, stage, days_past_due, invoiced::text, open_amount::text,
               credit_balance::text, balance::text
          FROM reporting.v_account_balances ORDER BY account_id, currency""",
    "kpi_suspense": "SELECT currency, payments, amount::text FROM reporting.v_suspense ORDER BY currency",
    "kpi_payments_received": """
        SELECT currency, payments, amount::text, reversed_payments, reversed_amount::text
          FROM reporting.v_payments_received ORDER BY currency""",
    "kpi_promise_kept_rate": "SELECT made, kept, broken, open FROM reporting.v_promise_kept_rate",
    "kpi_contacts_by_channel": """
        SELECT channel, status, contacts FROM reporting.v_contacts_by_channel ORDER BY channel, status""",
    "contacts_planned": """
        SELECT contact_id, account_id, currency, channel, playbook, step, status
          FROM strategy.contacts ORDER BY contact_id""",
    "notifier_tasks": """
        SELECT contact_id, account_id, channel, status FROM notifier.tasks ORDER BY contact_id""",
    "segments": "SELECT account_id, segment FROM segmentation.accounts ORDER BY account_id",
}
_NEEDS = {
    "reconciliation": (
        "reconciliation_balances",
        "reconciliation_payments",
        "reconciliation_allocations",
        "reconciliation_credits",
    ),
    "aging": ("aging_invoices",),
    "reporting": (
        "reporting_balances",
        "kpi_suspense",
        "kpi_payments_received",
        "kpi_promise_kept_rate",
        "kpi_contacts_by_channel",
    ),
    "strategy": ("contacts_planned",),
    "notifier": ("notifier_tasks",),
    "segmentation": ("segments",),
}


def sms_sent(stack: Stack) -> Counter[str]:
    """Messages the SMS provider actually sent, per contact id: lines of its log, appended per send (not
    idempotent by key: a second send of one contact is a second line)."""
    state = Path(stack.extra_env["COBRANZA_NOTIFIER_STATE_DIR"])
    log = state / "notifier" / "sms.log"
    if not log.exists():
        return Counter()
    lines = log.read_text(encoding="utf-8").splitlines()
    return Counter(json.loads(line)["contact_id"] for line in lines if line.strip())


def outcome(stack: Stack, services: Sequence[str] = SERVICE_NAMES) -> dict[str, Any]:
    """What the run ended as: balances, payments, contacts, messages sent, KPI rows, dead letters."""
    engine = create_engine(sqlalchemy_url(stack.database), pool_size=1)
    result: dict[str, Any] = {}
    try:
        with engine.connect() as conn:
            for service in services:
                for name in _NEEDS.get(service, ()):
                    result[name] = [tuple(row) for row in conn.execute(text(_QUERIES[name])).all()]
                result[f"dead_letters_{service}"] = int(
                    conn.execute(
                        text(f"SELECT count(*) FROM {service}.outbox WHERE topic = :dead"),
                        {"dead": Topics.DEAD_LETTER},
                    ).scalar_one()
                )
    finally:
        engine.dispose()
    if "notifier" in services:
        result["sms_sent"] = sms_sent(stack)
    return result


def differences(expected: dict[str, Any], got: dict[str, Any]) -> dict[str, Any]:
    """Each key whose value differs: what the clean run had and what this run has that it had not."""
    out: dict[str, Any] = {}
    for key in sorted(set(expected) | set(got)):
        if key == "retries" or expected.get(key) == got.get(key):
            continue
        a, b = expected.get(key), got.get(key)
        if isinstance(a, Counter) and isinstance(b, Counter):
            out[key] = {"missing": dict(a - b), "extra": dict(b - a)}
        elif isinstance(a, list) and isinstance(b, list):
            out[key] = {"missing": sorted(set(a) - set(b))[:10], "extra": sorted(set(b) - set(a))[:10]}
        else:
            out[key] = {"expected": a, "got": b}
    return out
