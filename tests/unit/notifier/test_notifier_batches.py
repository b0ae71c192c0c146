"""notifier's batch handlers: a whole batch gives what one event at a time gives, in bounded statements.

Order-sensitive cases: a customer upserted twice in one batch (the last word stands), invoices
filling contact data the customer master lacks (the first word stays), a contact id repeated in
one batch (the first one is the task), contacts due now, later, by voice, and with a template
that does not exist, in two tenants sharing ids.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from support.batches import Build, counted_statements, one_service_platforms, table_rows

from libs.events.envelope import Envelope
from libs.events.registry import model_for
from libs.platform.registry import load_spec
from libs.runtime.clock import SimulatedClock
from libs.runtime.context import ServiceContext
from libs.runtime.ids import SequentialIdFactory
from libs.runtime.service import ServiceSpec
from libs.runtime.transport.memory import InMemoryPlatform, MemoryBroker
from libs.runtime.uow import DueTimer, UnitOfWork
from services.notifier.service_layer import handlers

T0 = datetime(2026, 1, 14, 15, tzinfo=UTC)


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COBRANZA_NOTIFIER_STATE_DIR", str(tmp_path))
    for name in ("SMTP_HOST", "SMS_HTTP_URL", "WHATSAPP_HTTP_URL"):
        monkeypatch.delenv(f"COBRANZA_NOTIFIER_{name}", raising=False)
    return tmp_path


@pytest.fixture
def build(service_database) -> Iterator[Build]:  # type: ignore[no-untyped-def]
    """A notifier platform with a clock of its own, one batch per poll or ``batch_size`` events."""
    with one_service_platforms(service_database, "notifier", T0) as make:
        yield make


def _customer(n: int, email: str) -> tuple[str, str, dict[str, Any]]:
    return (
        "cobranza.customer.upserted",
        f"C{n}",
        {
            "customer_id": f"C{n}",
            "account_ids": [f"A{n}", f"B{n}"],
            "name": f"Cliente {n}",
            "kind": "person",
            "country": "CO",
            "timezone": "America/Bogota",
            "address": "Calle 10 # 5-20",
            "contact_points": [
                {"channel": "email", "value": email, "consent": True},
                {"channel": "sms", "value": "+573001234567", "consent": True},
            ],
        },
    )


def _invoice(n: int, k: int, email: str | None) -> tuple[str, str, dict[str, Any]]:
    customer: dict[str, Any] = {
        "customer_id": f"D{n}",
        "name": f"Deudor {n}-{k}",
        "kind": "person",
        "country": "CO",
        "timezone": "America/Bogota",
    }
    if email:
        customer["email"] = email
    account = f"N{n}"
    return (
        "cobranza.invoice.issued",
        account,
        {
            "invoice_id": f"I{n}-{k}",
            "account_id": account,
            "customer": customer,
            "amount": "10",
            "currency": "COP",
            "issued_on": "2026-01-05",
            "due_on": "2026-01-20",
            "product_line": "auto",
        },
    )


def _due(
    contact: str, account: str, channel: str, template: str, at: datetime
) -> tuple[str, str, dict[str, Any]]:
    return (
        "cobranza.contact.due",
        account,
        {
            "contact_id": contact,
            "account_id": account,
            "channel": channel,
            "scheduled_for": at.isoformat(),
            "strategy": "default",
            "step": template,
            "template": template,
        },
    )


def phases(n: int) -> list[list[tuple[str, str, dict[str, Any]]]]:
    later = T0 + timedelta(hours=20)
    customers, invoices, contacts = [], [], []
    for k in range(n):
        customers += [_customer(k, f"old{k}@example.co"), _customer(k, f"new{k}@example.co")]
        invoices += [
            _invoice(k, 1, None),
            _invoice(k, 2, f"first{k}@example.co"),
            _invoice(k, 3, "x@example.co"),
        ]
        contacts += [
            _due(f"K{k}", f"A{k}", "email", "aviso_mora", T0),
            _due(f"K{k}", f"A{k}", "sms", "sms_mora", T0),  # the same contact again: ignored
            _due(f"S{k}", f"B{k}", "sms", "sms_mora", T0),
            _due(f"E{k}", f"N{k}", "email", "aviso_mora", T0),
            _due(f"V{k}", f"A{k}", "voice", "guion_llamada", T0),
            _due(f"F{k}", f"A{k}", "email", "aviso_mora", later),
            _due(f"X{k}", f"A{k}", "email", "no_such_template", T0),
        ]
    return [customers, invoices, contacts]


def run(
    platform: InMemoryPlatform, n: int, tenants: tuple[str, ...] = ("t1", "t2"), fire_timers: bool = True
) -> None:
    for phase, events in enumerate(phases(n)):
        for tenant in tenants:
            for i, (event_type, key, data) in enumerate(events):
                envelope = Envelope(
                    id=f"p{phase}-{i}",
                    source="/test",
                    type=event_type,
                    time=T0,
                    subject=key,
                    data=data,
                    tenantid=tenant,
                )
                platform.publish(envelope, model_for(event_type).topic)
        platform.run_until_quiet()
    if fire_timers:  # each timer fires on its own (the runtime's timer path is per timer)
        platform.advance_to(T0 + timedelta(days=1))


def outcome(platform: InMemoryPlatform) -> tuple[dict[tuple[str, str], list[str]], dict[str, Counter[str]]]:
    emitted: dict[tuple[str, str], list[str]] = {}
    for published in platform.broker.log:
        body = json.loads(published.record.value or b"")
        if body.get("source") == "/test":
            continue
        body.pop("traceparent", None)
        emitted.setdefault((body["tenantid"], body["subject"]), []).append(json.dumps(body, sort_keys=True))
    return emitted, table_rows(platform.context("notifier"), with_serial=True)


def test_a_batch_gives_what_one_event_at_a_time_gives(build: Build) -> None:
    batched, one_by_one = build(None), build(1)
    run(batched, 3)
    run(one_by_one, 3)
    assert len(batched.results) < len(one_by_one.results)
    emitted, state = outcome(batched)
    assert emitted == outcome(one_by_one)[0]
    assert state == outcome(one_by_one)[1]

    got = {
        (e["data"]["contact_id"], e["data"]["status"], e["data"].get("detail"))
        for v in emitted.values()
        for e in map(json.loads, v)
        if e["tenantid"] == "t1" and e["data"]["contact_id"].endswith("0")
    }
    assert {(c, s) for c, s, _ in got} == {
        ("K0", "sent"),
        ("S0", "sent"),
        ("E0", "sent"),
        ("F0", "sent"),
        ("X0", "failed"),
    }
    ctx = batched.context("notifier")
    with ctx.sessions() as session:
        people = {
            r.account_id: (r.name, r.email)
            for r in session.execute(select(ctx.spec.metadata.tables["notifier.recipients"]))
            if r.tenant_id == "t1" and r.account_id.endswith("0")
        }
    assert people == {
        "A0": ("Cliente 0", "new0@example.co"),  # the customer's last word in the batch
        "B0": ("Cliente 0", "new0@example.co"),
        "N0": ("Deudor 0-1", "first0@example.co"),  # the first e-mail an invoice gave
    }


def test_a_batch_costs_the_same_statements_whatever_its_size(build: Build) -> None:
    """No statement per event: ten times the accounts in one batch, the same number of statements."""
    counts = []
    for accounts in (2, 20):
        platform = build(None)
        with counted_statements(platform.context("notifier").engine) as statements:
            run(platform, accounts, tenants=("t1",), fire_timers=False)
        counts.append(len(statements))
    assert counts[0] == counts[1]


def _single_deliver(due: DueTimer, uow: UnitOfWork) -> None:
    """The ``deliver`` timer as it was before the batch timer: one task read and delivered per timer."""
    task = uow.session.execute(
        text("SELECT * FROM notifier.tasks WHERE tenant_id = :t AND contact_id = :k FOR UPDATE"),
        {"t": uow.tenant, "k": due.key},
    ).first()
    if task is not None:
        handlers.deliver_many(uow, [task], [None])


def _platform(url: str, spec: ServiceSpec, clock: SimulatedClock) -> tuple[ServiceContext, InMemoryPlatform]:
    ctx = ServiceContext.create(spec, url, clock=clock, ids=SequentialIdFactory("t"))
    return ctx, InMemoryPlatform([ctx], MemoryBroker(clock), clock)


def _single_timer_spec() -> ServiceSpec:
    spec = copy.copy(load_spec("notifier"))
    spec.timers, spec.batch_timers = {handlers.DELIVER_TIMER: _single_deliver}, {}
    return spec


def test_the_batch_timer_emits_what_the_single_timer_did_and_fires_the_rows_it_left(service_database) -> None:  # type: ignore[no-untyped-def]
    """Same timer rows (name ``deliver``, key the contact id): the batch timer gives each outcome the
    id and state the single timer gave, and rows a single-timer process armed fire after an upgrade."""
    emitted: list[dict[tuple[str, str], list[str]]] = []
    state: list[dict[str, Counter[str]]] = []
    for spec in (_single_timer_spec(), load_spec("notifier")):
        ctx, platform = _platform(service_database(["notifier"]), spec, SimulatedClock(T0))
        try:
            run(platform, 3)
            got, rows = outcome(platform)
            emitted.append(got)
            state.append(rows)
        finally:
            ctx.dispose()
    assert emitted[0] == emitted[1]
    assert state[0] == state[1]

    url, clock = service_database(["notifier"]), SimulatedClock(T0)
    old, platform = _platform(url, _single_timer_spec(), clock)
    try:
        run(platform, 2, fire_timers=False)  # the future contacts' timers armed by the old process
    finally:
        old.dispose()
    new, upgraded = _platform(url, load_spec("notifier"), clock)
    try:
        upgraded.advance_to(T0 + timedelta(days=1))
        with new.sessions() as session:
            later: dict[str, str] = dict(
                session.execute(
                    text(
                        "SELECT tenant_id || '/' || contact_id, status FROM notifier.tasks "
                        "WHERE contact_id LIKE 'F%'"
                    )
                ).all()
            )
            timers = session.execute(text("SELECT count(*) FROM notifier.timers")).scalar_one()
        assert later == {f"{t}/F{k}": "sent" for t in ("t1", "t2") for k in range(2)}
        assert timers == 0
    finally:
        new.dispose()


def test_due_timers_cost_the_same_statements_whatever_their_number(build: Build) -> None:
    """The ``deliver`` timers of a tenant fire as one batch: no read or write per contact."""
    counts = []
    for accounts in (2, 20):
        platform = build(None)
        run(platform, accounts, tenants=("t1",), fire_timers=False)
        with counted_statements(platform.context("notifier").engine) as statements:
            platform.advance_to(T0 + timedelta(days=1))
        assert sum("FROM notifier.tasks" in s for s in statements) >= 1
        counts.append(len(statements))
    assert counts[0] == counts[1]
