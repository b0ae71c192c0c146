"""cobranza's public event contracts: CloudEvents envelope, payload models, topic catalog."""

from libs.events.catalog import CATALOG, Topics, TopicSpec, topic_spec  # noqa: F401
from libs.events.envelope import Envelope
from libs.events.payloads.accounts import AccountAged
from libs.events.payloads.base import EventPayload
from libs.events.payloads.contacts import ContactDue, ContactOutcome
from libs.events.payloads.customers import ContactPoint, CustomerUpserted
from libs.events.payloads.invoices import Customer, InvoiceAdjusted, InvoiceCancelled, InvoiceIssued
from libs.events.payloads.payments import PaymentReceived, PaymentReversed
from libs.events.payloads.promises import PromiseBroken, PromiseKept, PromiseMade
from libs.events.payloads.segments import SegmentChanged, SegmentReason
from libs.events.registry import DecodedEvent, InvalidEvent, decode, decode_envelope, model_for

__all__ = [
    "CATALOG",
    "AccountAged",
    "ContactDue",
    "ContactOutcome",
    "ContactPoint",
    "Customer",
    "CustomerUpserted",
    "DecodedEvent",
    "Envelope",
    "EventPayload",
    "InvalidEvent",
    "InvoiceAdjusted",
    "InvoiceCancelled",
    "InvoiceIssued",
    "PaymentReceived",
    "PaymentReversed",
    "PromiseBroken",
    "PromiseKept",
    "PromiseMade",
    "SegmentChanged",
    "SegmentReason",
    "TopicSpec",
    "Topics",
    "decode",
    "decode_envelope",
    "model_for",
]
