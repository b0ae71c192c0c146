"""Read-only views for the audit log's ``before``: what a manual application is about to change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

_SUSPENSE_BEFORE = text(
    """
    SELECT p.payment_id, p.status, p.currency, p.amount, p.received_on, p.claimed_account_id,
           p.suspense_reason, p.reference,
           (SELECT coalesce(json_agg(json_build_object(
                       'invoice_id', i.invoice_id, 'currency', i.currency,
                       'open_amount', CAST(i.open_amount AS text), 'due_on', i.due_on)
                     ORDER BY i.due_on, i.invoice_id), '[]'::json)
              FROM reconciliation.invoices AS i
             WHERE i.tenant_id = p.tenant_id AND i.account_id = :account_id
               AND i.currency = p.currency AND i.status = 'open') AS open_items
      FROM reconciliation.payments AS p
     WHERE p.tenant_id = :tenant AND p.payment_id = :payment_id
    """
)


def suspense_before(session: Session, tenant: str, payment_id: str, account_id: str) -> dict[str, Any] | None:
    """The payment (its suspense state) and the account's open items in its currency, in one query;
    None for a payment the tenant does not have. The payer's name is left out (personal data)."""
    row = (
        session.execute(
            _SUSPENSE_BEFORE, {"tenant": tenant, "payment_id": payment_id, "account_id": account_id}
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    item = {k: v for k, v in row.items() if k != "open_items"}
    return {"suspense": item, "open_items": row["open_items"]}
