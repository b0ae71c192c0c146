"""Read-only views for the audit log's ``before``: the stored record a person's upsert replaces.

A customer's stored record holds personal data (document id, e-mail, phone): the audit rows of
``PUT /v1/customers/{customer_id}`` carry it in ``before`` and ``after`` and are erased with the
customer (docs/operations.md, "Audit log").
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.ingest.adapters.orm import customers, reference_entities


def stored_customer(
    session: Session, tenant: str, source: str, source_customer_id: str
) -> dict[str, Any] | None:
    """The source's customer as ingest holds it (its canonical id, link and contact keys); None if new."""
    row = (
        session.execute(
            select(
                customers.c.source,
                customers.c.source_customer_id,
                customers.c.customer_id,
                customers.c.document_id,
                customers.c.email,
                customers.c.phone,
                customers.c.link_rule,
                customers.c.updated_at,
            ).where(
                customers.c.tenant_id == tenant,
                customers.c.source == source,
                customers.c.source_customer_id == source_customer_id,
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def stored_reference(
    session: Session, tenant: str, entity_type: str, entity_id: str
) -> dict[str, Any] | None:
    """The reference entity's latest state (as ``GET /v1/reference/...`` shows it); None if new."""
    row = (
        session.execute(
            select(reference_entities.c.data, reference_entities.c.updated_at).where(
                reference_entities.c.tenant_id == tenant,
                reference_entities.c.entity_type == entity_type,
                reference_entities.c.entity_id == entity_id,
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else {"data": row["data"], "updated_at": row["updated_at"]}
