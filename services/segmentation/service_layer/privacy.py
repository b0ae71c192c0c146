"""segmentation's side of an erasure (``cobranza.customer.erased``; docs/privacy.md).

segmentation's profiles hold ids, labels (kind, country, region, product line, bucket), amounts
and scores: no name, document, e-mail, phone or address (its model features are account-level
numbers). The erasure scrubs its own event log rows about the customer's accounts (the outbox,
timers, and a dead letter that carried an upstream record).
"""

from __future__ import annotations

from collections.abc import Sequence

from libs.events.payloads.customers import CustomerErased
from libs.events.registry import DecodedEvent
from libs.platform.privacy import erased_ids, scrub_event_log
from libs.runtime.uow import UnitOfWork


def on_customers_erased(events: Sequence[DecodedEvent[CustomerErased]], uow: UnitOfWork) -> None:
    from services.segmentation.service import SPEC

    customers, accounts = erased_ids(events)
    scrub_event_log(uow.session, SPEC.tables, uow.tenant, [*customers, *accounts])


__all__ = ["on_customers_erased"]
