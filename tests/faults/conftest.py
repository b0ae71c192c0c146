"""Fault runs on the real stack: services as processes (``cobranza service run``), a real broker.

They take tens of seconds each, so they run only when selected: ``make test-faults`` (``-m faults``,
the embedded Tansu) or ``make test-faults-kafka`` (Apache Kafka from deploy/apache-kafka). The
helpers are in ``harness.py``; here the fixtures: brokers, stacks, the portfolio and its clean run.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from libs.platform.databases import fresh_database
from libs.platform.embedded import EmbeddedKafka
from libs.platform.registry import SERVICE_NAMES, load_spec
from libs.runtime.db import drop_database
from libs.runtime.settings import PlatformSettings
from libs.runtime.transport.kafka import ensure_topics
from tests.faults.harness import Portfolio, Stack, daytime_zone, run_portfolio, wait_for


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "faults" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="fault runs: make test-faults (pytest -m faults tests/faults)")
    for item in items:
        if "faults" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def bootstrap() -> Iterator[str]:
    """Apache Kafka when ``KAFKA_BOOTSTRAP_SERVERS`` names one (``make test-faults-kafka``), else a Tansu
    of the session's (every stack has a topic prefix of its own)."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    broker = EmbeddedKafka(Path(tempfile.mkdtemp(prefix="cobranza-fault-tansu-")) / "tansu.log")
    yield broker.start()
    broker.stop()


@pytest.fixture
def tansu() -> Iterator[EmbeddedKafka]:
    """A broker of this test's own (it may be killed and restarted on its port)."""
    broker = EmbeddedKafka(Path(tempfile.mkdtemp(prefix="cobranza-fault-tansu-")) / "tansu.log")
    broker.start()
    yield broker
    broker.stop()


def build_stack(bootstrap: str, database: str, logs: Path) -> Stack:
    """A stack on DATABASE and a fresh topic prefix of BOOTSTRAP; notifier's files under LOGS."""
    prefix = f"f{uuid.uuid4().hex[:8]}."
    ensure_topics(bootstrap, prefix=prefix)
    settings = PlatformSettings(
        database_url=database, kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=prefix
    )
    state = logs / "state"
    state.mkdir(parents=True, exist_ok=True)
    return Stack(database, settings, logs, extra_env={"COBRANZA_NOTIFIER_STATE_DIR": str(state)})


@pytest.fixture
def stack(service_database, tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """``stack(services, bootstrap, database=None)``: a fresh database (or this one) and topic prefix."""
    built: list[Stack] = []

    def build(services: list[str], bootstrap: str, database: str | None = None) -> Stack:
        logs = tmp_path / f"stack-{len(built)}"
        logs.mkdir()
        made = build_stack(bootstrap, database or service_database(services), logs)
        built.append(made)
        return made

    yield build
    for made in built:
        made.close()


WaitFor = Callable[..., None]


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> WaitFor:
    """``wait_for(condition, timeout, what, stack)``: poll until true, else print the logs and fail."""
    return wait_for


@pytest.fixture(scope="session")
def portfolio() -> Portfolio:
    """The input every portfolio run posts (its debtors in a zone where it is daytime now)."""
    return Portfolio(zone=daytime_zone())


@pytest.fixture(scope="session")
def clean_run(pg_server: str, bootstrap: str, portfolio: Portfolio) -> Iterator[dict[str, Any]]:
    """The portfolio through all seven services with no fault: what every fault run must end as."""
    name = f"cobranza_fault_clean_{uuid.uuid4().hex[:8]}"
    database = fresh_database(pg_server, [load_spec(s) for s in SERVICE_NAMES], name)
    logs = Path(tempfile.mkdtemp(prefix="cobranza-fault-clean-"))
    clean = build_stack(bootstrap, database, logs)
    try:
        result = run_portfolio(clean, portfolio)
    finally:
        clean.close()
    drop_database(pg_server, name)
    assert result["sms_sent"] and all(n == 1 for n in result["sms_sent"].values())
    yield result
