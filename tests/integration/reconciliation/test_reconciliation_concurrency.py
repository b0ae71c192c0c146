"""Two workers at once: a payment parked while the invoice that identifies it is committing.

Each scenario holds one handler's transaction open, starts the other in a thread, waits until
Postgres shows it blocked on a lock, then commits: whichever order the two take, the payment
ends applied, never left in suspense with its invoice already there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from libs.events.envelope import Envelope
from libs.events.registry import decode_envelope
from libs.platform.registry import load_spec
from libs.runtime.context import ServiceContext
from libs.runtime.uow import UnitOfWork
from services.reconciliation.adapters.orm import payments

INVOICE = {
    "invoice_id": "INV-77",
    "account_id": "A7",
    "customer": {
        "customer_id": "C7",
        "name": "Ana",
        "kind": "person",
        "country": "CO",
        "timezone": "America/Bogota",
    },
    "amount": "100",
    "currency": "COP",
    "issued_on": "2026-01-01",
    "due_on": "2026-01-20",
    "product_line": "auto",
}


def envelope(event_type: str, data: dict[str, Any], event_id: str) -> Envelope:
    return Envelope(
        id=event_id,
        source="/cobranza/ingest",
        type=event_type,
        time=datetime(2026, 1, 10, tzinfo=UTC),
        subject=data.get("account_id"),
        data=data,
    )


def handle(ctx: ServiceContext, session: Any, event: Envelope) -> None:
    """The event as a batch of one, as a worker whose poll brought only it would run it."""
    uow = UnitOfWork(
        session,
        service=ctx.name,
        tables=ctx.spec.tables,
        clock=ctx.clock,
        ids=ctx.ids,
        tenant=event.tenantid,
        extras=ctx.extras,
        batch=True,
    )
    ctx.spec.batch_handlers[event.type]([decode_envelope(event)], uow)


def blocked(ctx: ServiceContext) -> Callable[[], bool]:
    def check() -> bool:
        with ctx.engine.connect() as conn:
            return bool(conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar())

    return check


PAYMENT_FOR_ACCOUNT = {
    "payment_id": "P1",
    "account_id": "A7",
    "amount": "60",
    "currency": "COP",
    "received_on": "2026-01-10",
}
PAYMENT_BY_REFERENCE = {
    "payment_id": "P1",
    "amount": "60",
    "currency": "COP",
    "received_on": "2026-01-10",
    "reference": "PAGO FACTURA INV 77",
}


@pytest.mark.parametrize(
    "payment", [PAYMENT_FOR_ACCOUNT, PAYMENT_BY_REFERENCE], ids=["account", "remittance"]
)
@pytest.mark.parametrize("first", ["invoice", "payment"])
def test_a_payment_and_its_invoice_at_once(
    service_database, wait_until, payment: dict[str, Any], first: str
) -> None:  # type: ignore[no-untyped-def]
    ctx = ServiceContext.create(
        load_spec("reconciliation"), service_database(["reconciliation"]), pool_size=3
    )
    events = {
        "invoice": envelope("cobranza.invoice.issued", INVOICE, "e-inv"),
        "payment": envelope("cobranza.payment.received", payment, "e-pay"),
    }
    second = "payment" if first == "invoice" else "invoice"
    failures: list[BaseException] = []

    def other() -> None:
        try:
            with ctx.sessions() as session, session.begin():
                handle(ctx, session, events[second])
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    try:
        with ctx.sessions() as session:
            transaction = session.begin()
            handle(ctx, session, events[first])
            worker = threading.Thread(target=other)
            worker.start()
            # without a lock in common the other handler would just finish, missing the first one's rows
            wait_until(
                lambda: blocked(ctx)() or not worker.is_alive(), 30, f"the {second} handler waiting or done"
            )
            transaction.commit()
        worker.join(30)
        assert not worker.is_alive() and failures == []
        with ctx.sessions() as session:
            row = session.execute(select(payments.c.status, payments.c.account_id)).one()
        assert tuple(row) == ("applied", "A7")
    finally:
        ctx.dispose()
