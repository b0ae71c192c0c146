"""reconciliation's side of an erasure (``cobranza.customer.erased``; docs/privacy.md).

What identifies the person goes: the customer's name on each of its accounts, and on each of their
payments the payer's name, the free-text reference and the method label the bank file carried
(the remittance text can hold a name or a phone); the audit trail of manual applications keeps who
did what and the amounts, without those fields in its details. Money stays exactly as it was:
invoices, payments, allocations, credits and suspense keep their ids, amounts, currencies and
states, so every balance per account and currency is unchanged (accounting retention).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text

from libs.events.payloads.customers import CustomerErased
from libs.events.registry import DecodedEvent
from libs.platform.privacy import PERSONAL_KEYS, erased_ids, scrub_event_log
from libs.runtime.uow import UnitOfWork

_ACCOUNTS = text(
    """
    UPDATE reconciliation.accounts SET customer_name = NULL
     WHERE tenant_id = :tenant AND customer_name IS NOT NULL
       AND (account_id = ANY(CAST(:accounts AS text[])) OR customer_id = ANY(CAST(:customers AS text[])))
    RETURNING account_id
    """
)
_PAYMENTS = text(
    """
    UPDATE reconciliation.payments SET payer_name = NULL, reference = NULL, method_detail = NULL
     WHERE tenant_id = :tenant
       AND (account_id = ANY(CAST(:accounts AS text[])) OR claimed_account_id = ANY(CAST(:accounts AS text[])))
       AND (payer_name IS NOT NULL OR reference IS NOT NULL OR method_detail IS NOT NULL)
    """
)
_AUDIT = text(
    """
    UPDATE reconciliation.audit SET details = details - CAST(:keys AS text[])
     WHERE tenant_id = :tenant AND account_id = ANY(CAST(:accounts AS text[]))
       AND details ?| CAST(:keys AS text[])
    """
)


def on_customers_erased(events: Sequence[DecodedEvent[CustomerErased]], uow: UnitOfWork) -> None:
    from services.reconciliation.service import SPEC

    customers, events_accounts = erased_ids(events)
    params = {"tenant": uow.tenant, "accounts": events_accounts, "customers": customers}
    named = [r.account_id for r in uow.session.execute(_ACCOUNTS, params)]
    accounts = sorted({*events_accounts, *named})
    params["accounts"] = accounts
    uow.session.execute(_PAYMENTS, params)
    uow.session.execute(_AUDIT, {**params, "keys": sorted({*PERSONAL_KEYS, "payer_name", "customer_name"})})
    scrub_event_log(uow.session, SPEC.tables, uow.tenant, [*customers, *accounts])


__all__ = ["on_customers_erased"]
