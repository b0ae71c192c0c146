"""ingest's handlers: validate what core systems publish and forward it onto the catalog topics.

An inbound event keeps its CloudEvents identity (source, id): the runtime's inbox drops a
redelivery of the same (tenant, source, id), while the same id from another source is another
event. On top of that, a document a source re-sends under a new event id is recognised by its
natural key per (tenant, source), exactly as on the REST API, and forwarded under the canonical
ids ingest minted for that source's documents and customers.
"""

from __future__ import annotations

from typing import Any

from libs.events.payloads.customers import CustomerUpserted
from libs.events.payloads.invoices import InvoiceAdjusted, InvoiceCancelled, InvoiceIssued
from libs.events.payloads.payments import PaymentReceived, PaymentReversed
from libs.events.registry import DecodedEvent, InvalidEvent, decode_envelope
from libs.runtime.uow import UnitOfWork
from services.ingest.domain.identity import source_system
from services.ingest.domain.standardise import KnownCustomer
from services.ingest.service_layer.commands import link_customers, resolve_customer
from services.ingest.service_layer.documents import Incoming, record_documents, resolve_documents


def _fresh(uow: UnitOfWork, source: str, kind: str, document: Incoming) -> str | None:
    """The canonical id of a document this source never sent before; None for a re-send."""
    recorded = record_documents(uow, source, kind, [document])[document.external_id]
    return recorded.canonical_id if recorded.new else None


def _as_canonical(uow: UnitOfWork, source: str, payload: Any) -> Any | None:
    """``payload`` under the canonical ids of ``source``'s documents; None when it is a re-send."""
    if isinstance(payload, CustomerUpserted):
        return _linked_customer(uow, source, payload)
    if isinstance(payload, InvoiceIssued):
        payload = _with_linked_debtor(uow, source, payload)
        invoice_id = _fresh(
            uow, source, "invoice", Incoming(payload.invoice_id, payload.account_id, payload.currency)
        )
        return None if invoice_id is None else payload.model_copy(update={"invoice_id": invoice_id})
    if isinstance(payload, PaymentReceived):
        payment_id = _fresh(
            uow, source, "payment", Incoming(payload.payment_id, payload.account_id, payload.currency)
        )
        return None if payment_id is None else payload.model_copy(update={"payment_id": payment_id})
    if isinstance(payload, InvoiceAdjusted):
        invoice = resolve_documents(uow, source, "invoice", [payload.invoice_id])[payload.invoice_id]
        key = f"{payload.invoice_id}/{payload.adjustment_id}"
        canonical = f"{invoice.canonical_id}/{payload.adjustment_id}"
        if (
            _fresh(uow, source, "adjustment", Incoming(key, payload.account_id, payload.currency, canonical))
            is None
        ):
            return None
        return payload.model_copy(update={"invoice_id": invoice.canonical_id})
    if isinstance(payload, InvoiceCancelled):
        invoice = resolve_documents(uow, source, "invoice", [payload.invoice_id])[payload.invoice_id]
        document = Incoming(payload.invoice_id, payload.account_id, canonical_id=invoice.canonical_id)
        if _fresh(uow, source, "cancellation", document) is None:
            return None
        return payload.model_copy(update={"invoice_id": invoice.canonical_id})
    if isinstance(payload, PaymentReversed):
        payment = resolve_documents(uow, source, "payment", [payload.payment_id])[payload.payment_id]
        account_id = payload.account_id or payment.account_id
        document = Incoming(payload.payment_id, account_id, canonical_id=payment.canonical_id)
        if _fresh(uow, source, "reversal", document) is None:
            return None
        return payload.model_copy(update={"payment_id": payment.canonical_id, "account_id": account_id})
    return payload


def _linked_customer(uow: UnitOfWork, source: str, payload: CustomerUpserted) -> CustomerUpserted:
    """The customer under its canonical id, linked to the same person from other sources (as on REST)."""
    resolved = resolve_customer(
        uow,
        source,
        payload.customer_id,
        document_id=payload.document_id,
        email=payload.email,
        phone=payload.phone,
    )
    return payload.model_copy(
        update={
            "customer_id": resolved.customer_id,
            "linked_customer_ids": sorted(set(payload.linked_customer_ids) | set(resolved.linked_ids)),
            "link_rule": resolved.link_rule or payload.link_rule,
        }
    )


def _with_linked_debtor(uow: UnitOfWork, source: str, payload: InvoiceIssued) -> InvoiceIssued:
    debtor = payload.customer
    known = KnownCustomer(
        source, debtor.customer_id, debtor.customer_id, debtor.document_id, debtor.email, debtor.phone
    )
    customer_id = link_customers(uow, source, [known])[debtor.customer_id]
    if customer_id == debtor.customer_id:
        return payload
    return payload.model_copy(update={"customer": debtor.model_copy(update={"customer_id": customer_id})})


def forward_inbound(event: DecodedEvent[Any], uow: UnitOfWork) -> None:
    """A contract event a core system published on the inbound topic: validate, de-duplicate, forward.

    The forwarded record is keyed by the contract's ``subject()`` (the account; the customer id
    for ``cobranza.customer.upserted``), whatever subject the core system put on it.
    """
    validated = decode_envelope(event.envelope)  # raises InvalidEvent -> dead letter with field paths
    payload = _as_canonical(uow, source_system(event.envelope.source), validated.payload)
    if payload is None:
        return
    subject = payload.subject() or event.envelope.subject
    uow.forward(
        event.envelope.with_data(payload.model_dump(mode="json", exclude_none=True), subject=subject),
        payload.topic,
    )


__all__ = ["InvalidEvent", "forward_inbound"]
