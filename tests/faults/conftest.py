"""Fault runs on the real stack: services as processes (``cobranza service run``), a real broker.

They take tens of seconds each, so they run only when selected: ``make test-faults`` (``-m faults``).
The broker is the embedded Tansu started here (restarting it is one of the faults).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from libs.platform.embedded import EmbeddedKafka
from libs.runtime.settings import PlatformSettings
from libs.runtime.transport.kafka import ensure_topics

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Stack:
    """Service processes on one database and broker; logs kept to print when a run fails."""

    database: str
    settings: PlatformSettings
    logs: Path
    processes: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.database,
            "KAFKA_BOOTSTRAP_SERVERS": self.settings.kafka_bootstrap_servers or "",
            "COBRANZA_KAFKA_TOPIC_PREFIX": self.settings.kafka_topic_prefix,
            "COBRANZA_KAFKA_BATCH_SIZE": "50",
            "COBRANZA_RELAY_INTERVAL_S": "0.05",
            "COBRANZA_LOG_JSON": "false",
        }

    def start(self, service: str) -> subprocess.Popen[bytes]:
        log = self.logs / f"{service}-{len(self.processes)}.log"
        command = [sys.executable, "-m", "libs.platform.cli", "service", "run", service, "--port", "0"]
        process = subprocess.Popen(
            command, env=self.env(), cwd=REPO, stdout=log.open("wb"), stderr=subprocess.STDOUT
        )
        self.processes.append((service, process, log))
        return process

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

    def dump_logs(self) -> None:
        for name, _process, log in self.processes:
            print(f"--- {name} {log}\n{log.read_text(errors='replace')[-4000:]}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "faults" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="fault runs: make test-faults (pytest -m faults tests/faults)")
    for item in items:
        if "faults" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def bootstrap(request: pytest.FixtureRequest) -> str:
    """Apache Kafka when ``KAFKA_BOOTSTRAP_SERVERS`` names one (``make test-kafka``'s), else Tansu."""
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or request.getfixturevalue("tansu").bootstrap


@pytest.fixture
def tansu() -> Iterator[EmbeddedKafka]:
    """A broker of this test's own (it may be killed and restarted on its port)."""
    broker = EmbeddedKafka(Path(tempfile.mkdtemp(prefix="cobranza-fault-tansu-")) / "tansu.log")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def stack(service_database, tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """``stack(services, bootstrap, database=None)``: a fresh database (or this one) and topic prefix."""
    built: list[Stack] = []

    def build(services: list[str], bootstrap: str, database: str | None = None) -> Stack:
        prefix = f"f{uuid.uuid4().hex[:8]}."
        ensure_topics(bootstrap, prefix=prefix)
        database = database or service_database(services)
        settings = PlatformSettings(
            database_url=database, kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=prefix
        )
        made = Stack(database, settings, tmp_path)
        built.append(made)
        return made

    yield build
    for made in built:
        made.stop_all()


def _wait_for(condition: Callable[[], bool], timeout: float, what: str, stack: Stack | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    if stack is not None:
        stack.dump_logs()
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


WaitFor = Callable[..., None]


@pytest.fixture
def wait_for() -> WaitFor:
    """``wait_for(condition, timeout, what, stack)``: poll until true, else print the logs and fail."""
    return _wait_for
