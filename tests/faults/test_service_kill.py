"""kill -9 each service under load, start it again, and compare with a clean run of the same input.

The portfolio (``harness.Portfolio``: customers, then invoices 20 days overdue, then payments, each
phase posted through ingest's bulk API and waited out until every lag, outbox and due timer is
zero) runs through all seven services as processes. During the invoices phase, the heaviest (aging,
segmentation and strategy plan, notifier sends an SMS per debtor, reporting projects), the service
is killed with SIGKILL once it has handled a quarter of what it will get, and started again; ingest
is killed while the invoices are being posted (the poster retries what failed, as a core system
does). The run must end exactly as the clean run: balances per (account, currency) in
reconciliation, aging and reporting, payments and credits, contacts planned, notifier's tasks,
segments, the KPI rows, no dead letter, and **the SMS the provider actually sent** (its log gains a
line per send, so a contact sent twice shows as two).

``COBRANZA_FAULT_KILL`` (comma-separated) limits the services killed (default: every service).
"""

from __future__ import annotations

import os

import pytest

from libs.platform.registry import SERVICE_NAMES
from tests.faults.harness import Fault, differences, handled, kill_under_load, run_portfolio

pytestmark = [pytest.mark.faults, pytest.mark.kafka, pytest.mark.timeout(900)]
KILLED = [s for s in os.environ.get("COBRANZA_FAULT_KILL", ",".join(SERVICE_NAMES)).split(",") if s]


@pytest.mark.parametrize("service", KILLED)
def test_kill_9_under_load_loses_and_duplicates_nothing(
    service: str, stack, bootstrap, portfolio, clean_run
) -> None:
    run = stack(list(SERVICE_NAMES), bootstrap)
    progress = handled(service)
    invoices = len(portfolio.invoices())

    at_kill: list[int] = []

    def strike(s) -> None:  # type: ignore[no-untyped-def]
        # ingest's outbox and the others' inboxes already hold the customers phase: count from there
        start = progress(s)
        kill_under_load(service, progress, start + invoices // 4, at_kill.append)(s)

    fault = Fault("invoices", strike)
    got = run_portfolio(run, portfolio, fault=fault)

    assert fault.struck, "the fault never struck"
    assert progress(run) > at_kill[0], f"{service} had finished its work before the kill"
    assert differences(clean_run, got) == {}, fault.struck
    assert all(n == 1 for n in got["sms_sent"].values())
