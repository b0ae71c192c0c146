"""The inbound topic: contract events from core systems, de-duplicated per source by natural key."""

from __future__ import annotations

from datetime import UTC, datetime

from libs.events.catalog import Topics
from libs.events.envelope import Envelope


def cancellation(event_id: str, source: str = "/core/policy") -> Envelope:
    return Envelope(
        id=event_id,
        source=source,
        type="cobranza.invoice.cancelled",
        time=datetime(2026, 1, 9, tzinfo=UTC),
        subject="A1",
        data={
            "invoice_id": "I1",
            "account_id": "A1",
            "reason": "policy_cancelled",
            "cancelled_on": "2026-01-09",
        },
    )


def test_a_cancellation_sent_twice_under_new_event_ids_is_forwarded_once(make_platform) -> None:
    platform = make_platform(["ingest"])
    platform.publish(cancellation("e1"), Topics.INBOUND)
    platform.publish(cancellation("e2"), Topics.INBOUND)  # the core system re-sent it with a new id
    platform.publish(cancellation("e3", source="/core/billing"), Topics.INBOUND)  # another source
    platform.run_until_quiet()
    forwarded = [
        Envelope.from_json(p.record.value or b"").id for p in platform.broker.topics[Topics.INVOICES]
    ]
    assert forwarded == ["e1", "e3"]
