"""reporting's side of an erasure (``cobranza.customer.erased``; docs/privacy.md).

reporting's projections (portfolio, payments, promises, contacts) hold ids, labels, amounts and
states: no name, document, e-mail, phone or address, so the portfolio adds up to the cent before and
after. The erasure scrubs its own event log rows about the customer's accounts (the outbox, timers,
and a dead letter that carried an upstream record).
"""

from __future__ import annotations

from collections.abc import Sequence

from libs.events.payloads.customers import CustomerErased
from libs.events.registry import DecodedEvent
from libs.platform.privacy import erased_ids, scrub_event_log
from libs.runtime.uow import UnitOfWork


def on_customers_erased(events: Sequence[DecodedEvent[CustomerErased]], uow: UnitOfWork) -> None:
    from services.reporting.service import SPEC

    customers, accounts = erased_ids(events)
    scrub_event_log(uow.session, SPEC.tables, uow.tenant, [*customers, *accounts])


__all__ = ["on_customers_erased"]
