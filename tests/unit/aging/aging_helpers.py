"""Envelopes for aging's tests, built as raw dicts the way producers put them on the wire."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from typing import Any

from libs.events.envelope import Envelope
from libs.runtime.transport.memory import InMemoryPlatform

_ids = itertools.count(1)


def invoice(invoice_id: str = "I1", account_id: str = "A1", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "invoice_id": invoice_id,
        "account_id": account_id,
        "customer": {
            "customer_id": "C-" + account_id,
            "name": "Ana Pérez",
            "kind": "person",
            "country": "CO",
            "timezone": "America/Bogota",
        },
        "amount": "100000.00",
        "currency": "COP",
        "issued_on": "2026-01-05",
        "due_on": "2026-01-20",
        "product_line": "cumplimiento",
    }
    data.update(overrides)
    return data


def payment_applied(account_id: str, *allocations: tuple[str, str], currency: str = "COP") -> dict[str, Any]:
    return {
        "payment_id": f"P{next(_ids)}",
        "account_id": account_id,
        "currency": currency,
        "amount_applied": "1.00",
        "allocations": [
            {"invoice_id": inv, "amount": "1.00", "invoice_open_amount_after": after}
            for inv, after in allocations
        ],
        "credit_balance_after": "0",
        "rule": "reference",
        "applied_on": "2026-01-01",
    }


def reversal_applied(account_id: str, *reopened: tuple[str, str], currency: str = "COP") -> dict[str, Any]:
    return {
        "payment_id": f"P{next(_ids)}",
        "account_id": account_id,
        "currency": currency,
        "reopened": [
            {"invoice_id": inv, "amount": "1.00", "invoice_open_amount_after": after}
            for inv, after in reopened
        ],
        "credit_balance_after": "0",
        "reversed_on": "2026-01-01",
        "reason": "bounced_cheque",
    }


def send(
    platform: InMemoryPlatform, event_type: str, data: dict[str, Any], topic: str, tenant: str = "default"
) -> None:
    """Publish a raw-dict envelope of ``tenant`` at the platform's current time and deliver it."""
    envelope = Envelope(
        id=f"e{next(_ids)}",
        source="/test",
        type=event_type,
        time=platform.clock.now(),
        subject=str(data.get("account_id")),
        data=data,
        tenantid=tenant,
    )
    platform.publish(envelope, topic)
    platform.run_until_quiet()


def emitted(platform: InMemoryPlatform, topic: str, event_type: str | None = None) -> list[dict[str, Any]]:
    out = []
    for published in platform.broker.topics.get(topic, []):
        body = json.loads(published.record.value or b"")
        if event_type is None or body["type"] == event_type:
            out.append(body)
    return out


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)
