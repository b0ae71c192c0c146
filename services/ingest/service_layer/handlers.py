"""ingest's handlers: validate what core systems publish and forward it onto the catalog topics.

An inbound event keeps its CloudEvents identity (source, id): the runtime's inbox drops a
redelivery of the same (tenant, source, id), while the same id from another source is another
event. On top of that, a document a source re-sends under a new event id is recognised by its
natural key per (tenant, source), exactly as on the REST API, and forwarded under the canonical
ids ingest minted for that source's documents and customers.

The inbound topic is consumed as batches. A batch is cut into *segments*: runs of one source
whose events come in the order customers, invoices, payments, adjustments, cancellations,
reversals, anything else (a new segment starts when that order breaks or the source changes).
Inside a segment each kind is resolved with one set-based call, which gives what the events
would have got one at a time: nothing in a segment depends on an event after it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from libs.events.envelope import Envelope
from libs.events.payloads.base import EventPayload
from libs.events.payloads.customers import CustomerUpserted
from libs.events.payloads.invoices import InvoiceAdjusted, InvoiceCancelled, InvoiceIssued
from libs.events.payloads.payments import PaymentReceived, PaymentReversed
from libs.events.registry import DecodedEvent, InvalidEvent, decode_envelope
from libs.runtime.uow import UnitOfWork
from services.ingest.domain.identity import source_system
from services.ingest.domain.standardise import KnownCustomer
from services.ingest.service_layer.commands import link_customers, resolve_customers
from services.ingest.service_layer.documents import Incoming, record_documents, resolve_documents
from services.ingest.service_layer.privacy import drop_erased

PHASES: tuple[type[EventPayload], ...] = (
    CustomerUpserted,
    InvoiceIssued,
    PaymentReceived,
    InvoiceAdjusted,
    InvoiceCancelled,
    PaymentReversed,
)
"""The order a segment's kinds are resolved in; any other type comes last, forwarded as is."""

Item = tuple[Envelope, EventPayload]


def _phase(payload: EventPayload) -> int:
    return next((i for i, kind in enumerate(PHASES) if isinstance(payload, kind)), len(PHASES))


def segments(items: Sequence[Item]) -> Iterator[tuple[str, list[Item]]]:
    """(source system, events) runs in which resolving kind by kind keeps arrival order."""
    current: list[Item] = []
    source, top = "", -1
    for envelope, payload in items:
        this_source, phase = source_system(envelope.source), _phase(payload)
        if current and (this_source != source or phase < top):
            yield source, current
            current, top = [], -1
        source, top = this_source, max(top, phase)
        current.append((envelope, payload))
    if current:
        yield source, current


def _with(payload: EventPayload, **update: Any) -> EventPayload:
    """``payload`` with ``update``; itself when nothing changes (a tenant with one source keeps its
    ids, so most payloads need no copy: a pydantic copy is ~10 µs)."""
    if all(getattr(payload, name) == value for name, value in update.items()):
        return payload
    return payload.model_copy(update=update)


def _of(items: Sequence[Item], kind: type[EventPayload]) -> list[tuple[int, Any]]:
    return [(i, p) for i, (_, p) in enumerate(items) if isinstance(p, kind)]


def _fresh(
    uow: UnitOfWork, source: str, kind: str, documents: Sequence[tuple[int, Incoming]]
) -> dict[int, str]:
    """position -> canonical id of each document this source never sent before (its first occurrence)."""
    recorded = record_documents(uow, source, kind, [d for _, d in documents])
    out: dict[int, str] = {}
    seen: set[str] = set()
    for position, document in documents:
        found = recorded[document.external_id]
        if found.new and document.external_id not in seen:
            out[position] = found.canonical_id
        seen.add(document.external_id)
    return out


def canonical_payloads(uow: UnitOfWork, source: str, items: Sequence[Item]) -> list[EventPayload | None]:
    """Each payload of one segment under the canonical ids of ``source``'s documents; None for a re-send."""
    out: list[EventPayload | None] = [p for _, p in items]
    _customers(uow, source, _of(items, CustomerUpserted), out)
    _invoices(uow, source, _of(items, InvoiceIssued), out)
    payments = _of(items, PaymentReceived)
    fresh = _fresh(
        uow, source, "payment", [(i, Incoming(p.payment_id, p.account_id, p.currency)) for i, p in payments]
    )
    for i, p in payments:
        out[i] = _with(p, payment_id=fresh[i]) if i in fresh else None
    _adjustments(uow, source, _of(items, InvoiceAdjusted), out)
    _cancellations(uow, source, _of(items, InvoiceCancelled), out)
    _reversals(uow, source, _of(items, PaymentReversed), out)
    return out


def _customers(
    uow: UnitOfWork, source: str, items: list[tuple[int, CustomerUpserted]], out: list[EventPayload | None]
) -> None:
    """Customers under their canonical id, linked to the same person from other sources (as on REST)."""
    items = drop_erased(uow, source, items, out)  # an erased customer's record: dead letter (privacy.py)
    known = [
        KnownCustomer(source, p.customer_id, p.customer_id, p.document_id, p.email, p.phone) for _, p in items
    ]
    for (i, payload), resolved in zip(items, resolve_customers(uow, source, known), strict=True):
        out[i] = _with(
            payload,
            customer_id=resolved.customer_id,
            linked_customer_ids=sorted(set(payload.linked_customer_ids) | set(resolved.linked_ids)),
            link_rule=resolved.link_rule or payload.link_rule,
        )


def _invoices(
    uow: UnitOfWork, source: str, items: list[tuple[int, InvoiceIssued]], out: list[EventPayload | None]
) -> None:
    debtors = link_customers(
        uow,
        source,
        [
            KnownCustomer(source, d.customer_id, d.customer_id, d.document_id, d.email, d.phone)
            for d in (p.customer for _, p in items)
        ],
    )
    fresh = _fresh(
        uow, source, "invoice", [(i, Incoming(p.invoice_id, p.account_id, p.currency)) for i, p in items]
    )
    for i, payload in items:
        if i not in fresh:
            out[i] = None
            continue
        update: dict[str, Any] = {"invoice_id": fresh[i]}
        if fresh[i] != payload.invoice_id:
            update["natural_id"] = payload.invoice_id
        debtor_id = debtors[payload.customer.customer_id]
        if debtor_id != payload.customer.customer_id:
            update["customer"] = payload.customer.model_copy(update={"customer_id": debtor_id})
        out[i] = _with(payload, **update)


def _adjustments(
    uow: UnitOfWork, source: str, items: list[tuple[int, InvoiceAdjusted]], out: list[EventPayload | None]
) -> None:
    invoices = resolve_documents(uow, source, "invoice", [p.invoice_id for _, p in items])
    documents = []
    for i, p in items:
        canonical = invoices[p.invoice_id].canonical_id
        key = f"{p.invoice_id}/{p.adjustment_id}"
        documents.append((i, Incoming(key, p.account_id, p.currency, f"{canonical}/{p.adjustment_id}")))
    fresh = _fresh(uow, source, "adjustment", documents)
    for i, p in items:
        canonical = invoices[p.invoice_id].canonical_id
        out[i] = _with(p, invoice_id=canonical) if i in fresh else None


def _cancellations(
    uow: UnitOfWork, source: str, items: list[tuple[int, InvoiceCancelled]], out: list[EventPayload | None]
) -> None:
    invoices = resolve_documents(uow, source, "invoice", [p.invoice_id for _, p in items])
    fresh = _fresh(
        uow,
        source,
        "cancellation",
        [
            (i, Incoming(p.invoice_id, p.account_id, canonical_id=invoices[p.invoice_id].canonical_id))
            for i, p in items
        ],
    )
    for i, p in items:
        canonical = invoices[p.invoice_id].canonical_id
        out[i] = _with(p, invoice_id=canonical) if i in fresh else None


def _reversals(
    uow: UnitOfWork, source: str, items: list[tuple[int, PaymentReversed]], out: list[EventPayload | None]
) -> None:
    payments = resolve_documents(uow, source, "payment", [p.payment_id for _, p in items])
    accounts = {i: p.account_id or payments[p.payment_id].account_id for i, p in items}
    fresh = _fresh(
        uow,
        source,
        "reversal",
        [
            (i, Incoming(p.payment_id, accounts[i], canonical_id=payments[p.payment_id].canonical_id))
            for i, p in items
        ],
    )
    for i, p in items:
        update = {"payment_id": payments[p.payment_id].canonical_id, "account_id": accounts[i]}
        out[i] = _with(p, **update) if i in fresh else None


def forward_inbound(events: Sequence[DecodedEvent[Any]], uow: UnitOfWork) -> None:
    """Contract events core systems published on the inbound topic: validate, de-duplicate, forward.

    An event that does not validate raises InvalidEvent (field paths): the runtime bisects the
    batch down to it and dead-letters it alone. Each forwarded record is keyed by the contract's
    ``subject()`` (the account; the customer id for ``cobranza.customer.upserted``), whatever
    subject the core system put on it.
    """
    items = [(e.envelope, decode_envelope(e.envelope).payload) for e in events]
    outgoing: list[tuple[Envelope, str]] = []
    for source, segment in segments(items):
        for (envelope, _), payload in zip(segment, canonical_payloads(uow, source, segment), strict=True):
            if payload is None:
                continue
            # A copy, not ``with_data``'s re-validation of the whole envelope: the envelope was
            # validated when decoded, the subject is the contract's id (or the envelope's own) and
            # the data the contract's dump.
            update = {
                "data": payload.model_dump(mode="json", exclude_none=True),
                "subject": payload.subject() or envelope.subject,
            }
            outgoing.append((envelope.model_copy(update=update), payload.topic))
    uow.forward_many(outgoing)


__all__ = ["InvalidEvent", "forward_inbound", "segments"]
