"""ingest's handlers: validate what core systems publish and forward it onto the catalog topics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert

from libs.events.registry import DecodedEvent, InvalidEvent, decode_envelope
from libs.runtime.uow import UnitOfWork
from services.ingest.adapters.orm import received

_NATURAL_KEYS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "cobranza.invoice.issued": ("invoice", lambda p: p.invoice_id),
    "cobranza.payment.received": ("payment", lambda p: p.payment_id),
    "cobranza.invoice.adjusted": ("adjustment", lambda p: f"{p.invoice_id}/{p.adjustment_id}"),
    "cobranza.invoice.cancelled": ("cancellation", lambda p: p.invoice_id),
    "cobranza.payment.reversed": ("reversal", lambda p: p.payment_id),
}
"""Per event type: the kind recorded in ``received`` and the natural key a source cannot send twice
(the same keys the REST API and file import use)."""


def record_once(uow: UnitOfWork, source: str, kind: str, external_id: str, event_id: str) -> bool:
    """True the first time a source sends this id; False for a duplicate."""
    row = uow.session.execute(
        pg_insert(received)
        .values(source=source, kind=kind, external_id=external_id, event_id=event_id, received_at=uow.now())
        .on_conflict_do_nothing()
        .returning(received.c.event_id)
    ).first()
    return row is not None


def forward_inbound(event: DecodedEvent[Any], uow: UnitOfWork) -> None:
    """A contract event a core system published on the inbound topic: validate, de-duplicate, forward."""
    validated = decode_envelope(event.envelope)  # raises InvalidEvent -> dead letter with field paths
    payload = validated.payload
    natural = _NATURAL_KEYS.get(payload.event_type)
    if natural is not None:
        kind, natural_key = natural
        if not record_once(uow, event.envelope.source, kind, natural_key(payload), event.envelope.id):
            return
    envelope = event.envelope.with_data(payload.model_dump(mode="json", exclude_none=True))
    if envelope.subject is None and payload.subject() is not None:
        envelope = envelope.with_data(envelope.data, subject=payload.subject())
    uow.forward(envelope, payload.topic)


__all__ = ["InvalidEvent", "forward_inbound", "record_once"]
