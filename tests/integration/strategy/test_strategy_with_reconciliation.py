"""reconciliation -> strategy on the in-memory platform: promises follow the money reconciliation applied.

Contract events go in on their catalog topics (as ingest forwards them); reconciliation decides
where the money goes and strategy only sees its ``payment.applied`` / ``payment.reversal_applied``.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.events.registry import model_for
from services.strategy.adapters.orm import promises

_ids = itertools.count(1)
TENANT = "aseguradora_x"


def send(platform: Any, event_type: str, data: dict[str, Any], at: datetime) -> None:
    platform.advance_to(at)
    platform.publish(
        Envelope(
            id=f"e{next(_ids)}",
            source="/cobranza/ingest",
            type=event_type,
            time=at,
            subject=data.get("account_id"),
            data=data,
            tenantid=TENANT,
        ),
        model_for(event_type).topic,
    )
    platform.run_until_quiet()


def invoice(invoice_id: str, account: str, amount: str) -> dict[str, Any]:
    return {
        "invoice_id": invoice_id,
        "account_id": account,
        "customer": {
            "customer_id": f"C-{account}",
            "name": "Ana Gómez",
            "kind": "person",
            "country": "CO",
            "timezone": "America/Bogota",
        },
        "amount": amount,
        "currency": "COP",
        "issued_on": "2026-01-02",
        "due_on": "2026-01-31",
        "product_line": "auto",
    }


def promise(account: str) -> dict[str, Any]:
    return {
        "promise_id": "P1",
        "account_id": account,
        "amount": "100000",
        "currency": "COP",
        "due_on": "2026-01-15",
        "made_via": "call_center",
    }


def payment(payment_id: str, account: str, on: str, method: str) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "account_id": account,
        "amount": "100000",
        "currency": "COP",
        "received_on": on,
        "method": method,
    }


def outcomes(platform: Any) -> list[tuple[str, str, str]]:
    out = []
    for published in platform.broker.topics.get(Topics.PROMISES, []):
        body = json.loads(published.record.value)
        if body["type"] in ("cobranza.promise.kept", "cobranza.promise.broken"):
            out.append(
                (body["type"].rsplit(".", 1)[1], body["data"]["promise_id"], body["data"]["paid_amount"])
            )
    return out


def strategy_promise(platform: Any) -> Any:
    with platform.context("strategy").sessions() as session:
        return session.execute(
            select(promises).where(promises.c.tenant_id == TENANT, promises.c.promise_id == "P1")
        ).one()


def test_transfer_parked_in_suspense_keeps_the_promise_once_reconciliation_matches_it(make_platform) -> None:
    platform = make_platform(["reconciliation", "strategy"])
    send(platform, "cobranza.promise.made", promise("A9"), datetime(2026, 1, 5, 15, tzinfo=UTC))
    # nobody knows account A9 yet: the transfer waits in suspense and keeps nothing
    send(
        platform,
        "cobranza.payment.received",
        payment("TRF1", "A9", "2026-01-07", "transferencia"),
        datetime(2026, 1, 7, 15, tzinfo=UTC),
    )
    assert strategy_promise(platform).paid_amount == 0
    # the core system's invoice arrives before the promise's due end: reconciliation places the transfer
    send(
        platform,
        "cobranza.invoice.issued",
        invoice("I9", "A9", "100000"),
        datetime(2026, 1, 12, 15, tzinfo=UTC),
    )
    assert outcomes(platform) == [("kept", "P1", "100000.0000")]
    platform.advance_to(datetime(2026, 2, 1, tzinfo=UTC))
    assert outcomes(platform) == [("kept", "P1", "100000.0000")]


def test_bounced_cheque_unkeeps_the_promise_which_then_breaks_at_its_due_end(make_platform) -> None:
    platform = make_platform(["reconciliation", "strategy"])
    send(
        platform,
        "cobranza.invoice.issued",
        invoice("I1", "A1", "100000"),
        datetime(2026, 1, 2, 15, tzinfo=UTC),
    )
    send(platform, "cobranza.promise.made", promise("A1"), datetime(2026, 1, 5, 15, tzinfo=UTC))
    send(
        platform,
        "cobranza.payment.received",
        payment("CHQ1", "A1", "2026-01-06", "cheque"),
        datetime(2026, 1, 6, 15, tzinfo=UTC),
    )
    assert outcomes(platform) == [("kept", "P1", "100000.0000")]
    bounced = {
        "payment_id": "CHQ1",
        "account_id": "A1",
        "reversed_on": "2026-01-09",
        "reason": "cheque devuelto",
    }
    send(platform, "cobranza.payment.reversed", bounced, datetime(2026, 1, 9, 15, tzinfo=UTC))
    row = strategy_promise(platform)
    assert (row.status, row.paid_amount) == ("open", Decimal(0))
    platform.advance_to(datetime(2026, 1, 16, 5, tzinfo=UTC))  # end of 2026-01-15 in Bogotá
    assert outcomes(platform) == [("kept", "P1", "100000.0000"), ("broken", "P1", "0.0000")]
