"""The broker stopped for OUTAGE_S seconds under load (30 s; ``COBRANZA_FAULT_OUTAGE_S`` changes it),
then started again, compared with a clean run of the same input.

* **Apache Kafka** (deploy/apache-kafka/run.sh, ``make test-faults-kafka``): the broker is stopped
  and started on its data directory; topics, offsets and the log survive. While it is down ingest
  keeps taking the portfolio (its outbox holds it), the relays' deliveries time out as retriable
  (nothing parked), consumers wait; afterwards everything flows. Skipped unless the session's broker
  is the one run.sh manages.
* **Tansu** (the embedded default): it keeps its log in memory, so the restart loses topics, log and
  offsets; what ``cobranza up`` does when its broker exits (start it again on its port, recreate the
  topics, queue every retained outbox row again) brings the platform back, the inboxes dropping
  what consumers had seen.

Either way the portfolio ends exactly as the clean run (``harness.outcome``) and no service exited.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable

import pytest

from libs.platform.registry import SERVICE_NAMES
from libs.platform.supervisor import Supervisor
from libs.runtime.transport.kafka import broker_reachable
from tests.faults.harness import OUTAGE_S, REPO, Fault, Stack, differences, handled, run_portfolio, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.kafka, pytest.mark.timeout(900)]
RUN_SH = REPO / "deploy" / "apache-kafka" / "run.sh"


def run_sh(command: str, port: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RUN_SH), command], env={**os.environ, "PORT": port}, capture_output=True, text=True, timeout=300
    )


def apache_kafka_port(bootstrap: str) -> str | None:
    """The port of the run.sh broker the session uses, if it is one."""
    host, _, port = bootstrap.partition(",")[0].rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit():
        return None
    status = run_sh("status", port)
    return port if status.returncode == 0 and bootstrap.split(",")[0].endswith(f":{port}") else None


def outage(invoices: int, stop: Callable[[], None], start: Callable[[], None]) -> Fault:
    """Once strategy has handled a quarter of the invoices phase: ``stop``, OUTAGE_S seconds, ``start``."""

    def strike(stack: Stack) -> None:
        progress = handled("strategy")
        begun = progress(stack)
        wait_for(lambda: progress(stack) >= begun + invoices // 4, 300, "strategy to be under load", stack)
        stop()
        threading.Event().wait(OUTAGE_S)  # the outage itself: its length is the fault
        start()

    return Fault("invoices", strike)


def test_apache_kafka_stopped_under_load_loses_and_duplicates_nothing(
    stack, bootstrap, portfolio, clean_run
) -> None:
    port = apache_kafka_port(bootstrap)
    if port is None:
        pytest.skip("needs the Apache Kafka of deploy/apache-kafka/run.sh (make test-faults-kafka)")
    run = stack(list(SERVICE_NAMES), bootstrap)

    def stop() -> None:
        stopped = run_sh("stop", port)
        assert stopped.returncode == 0, stopped.stderr
        assert not broker_reachable(bootstrap, timeout=2.0)

    def start() -> None:
        started = run_sh("start", port)
        assert started.returncode == 0, started.stderr

    fault = outage(len(portfolio.invoices()), stop, start)
    try:
        got = run_portfolio(run, portfolio, fault=fault)
    finally:
        run_sh("start", port)  # the rest of the session needs it, whatever happened

    assert fault.struck, "the fault never struck"
    exited = [(n, p.returncode) for n, p, _ in run.processes if p.poll() is not None]
    assert not exited, f"services exited instead of waiting for the broker: {exited}"
    assert differences(clean_run, got) == {}


def test_tansu_stopped_under_load_and_restarted_without_its_log_loses_and_duplicates_nothing(
    stack, tansu, portfolio, clean_run
) -> None:
    run = stack(list(SERVICE_NAMES), tansu.bootstrap)

    def stop() -> None:
        assert tansu.process is not None
        tansu.process.kill()
        tansu.process.wait(10)

    def start() -> None:
        supervisor = Supervisor(run.settings, list(SERVICE_NAMES))
        supervisor.kafka = tansu
        supervisor._broker_died(run.database)  # what `cobranza up` does when its broker exits

    fault = outage(len(portfolio.invoices()), stop, start)
    got = run_portfolio(run, portfolio, fault=fault)

    assert fault.struck, "the fault never struck"
    exited = [(n, p.returncode) for n, p, _ in run.processes if p.poll() is not None]
    assert not exited, f"services exited instead of waiting for the broker: {exited}"
    assert differences(clean_run, got) == {}
