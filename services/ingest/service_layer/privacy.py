"""ingest's side of an erasure (habeas data, Ley 1581 de 2012): the command and the tombstone checks.

``erase`` runs in ONE unit of work: the tombstones, ingest's own erasure (the contact data its
customer links keep for the link rules, the stored responses of ``PUT /v1/customers``, the
standardised debtors of its invoices, its event log rows) and ``cobranza.customer.erased`` in the outbox, so the event leaves through the normal
relay, durably and after the customer's earlier upserts on the same key. What ingest keeps: the
link rows' ids (``source``, ``source_customer_id`` -> ``customer_id``: how a re-sent record is
recognised), ``received`` (ids and currencies of documents: the duplicate detector) and the
tombstone (tenant, customer id, when, legal basis).

A record of an erased customer that a core system sends again (an old record re-sent) is refused,
never re-emitted: ``drop_erased`` (the inbound topic: the event is dropped and a dead letter names
the erasure, not the data), ``reject_erased`` (a bulk request: the row is rejected with the
reason) and ``refuse_erased`` (``PUT /v1/customers/{id}``: 422 on ``customer_id``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from libs.events.catalog import Topics
from libs.events.payloads.customers import CustomerErased, CustomerUpserted
from libs.runtime.uow import UnitOfWork
from services.ingest.adapters.erasures import erasures
from services.ingest.domain.standardise import StandardisationError

if TYPE_CHECKING:  # commands.py calls the checks below: imported where used, not at import time
    from services.ingest.service_layer.commands import ItemResult

LEGAL_BASIS = "habeas_data"


@dataclass(frozen=True)
class KnownCustomer:
    """What ingest knows of a customer to erase: its ids (never its data)."""

    customer_id: str
    customer_ids: list[str]
    """the customer and the canonical customers linked to it (``linked_customer_ids`` ingest knows)"""
    links: list[tuple[str, str]]
    """(source, source customer id) of every link row of those customers"""
    account_ids: list[str]
    """the accounts ingest's own records name (the customer's upserts, the invoices it forwarded)"""
    erased_at: datetime | None
    """set when the customer was already erased (erasing again is harmless)"""


@dataclass
class Erased:
    event_id: str
    changed: dict[str, int] = field(default_factory=dict)


_LINKS = text(
    """
    SELECT source, source_customer_id, customer_id FROM ingest.customers
     WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:ids AS text[]))
    """
)
_UPSERTS = text(
    """
    SELECT value FROM ingest.outbox
     WHERE tenant_id = :tenant AND event_type = 'cobranza.customer.upserted'
       AND key = ANY(CAST(:ids AS text[]))
    """
)
_INVOICED = text(
    """
    SELECT DISTINCT key FROM ingest.outbox
     WHERE tenant_id = :tenant AND event_type = 'cobranza.invoice.issued'
       AND EXISTS (SELECT 1 FROM unnest(CAST(:needles AS bytea[])) AS n(v) WHERE position(n.v IN value) > 0)
    """
)
"""The accounts of the invoices ingest forwarded for the customers (``"customer_id":"<id>"`` in the record)."""
_TOMBSTONES = text(
    """
    SELECT customer_id, erased_at FROM ingest.erasures
     WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:ids AS text[]))
    """
)


def known_customer(uow: UnitOfWork, customer_id: str) -> KnownCustomer | None:
    """The customer's ids, links and accounts as ingest knows them; None when ingest never heard of it."""
    params = {"tenant": uow.tenant, "ids": [customer_id]}
    links = uow.session.execute(_LINKS, params).all()
    tombstones = {r.customer_id: r.erased_at for r in uow.session.execute(_TOMBSTONES, params)}
    accounts: set[str] = set()
    linked: set[str] = set()
    upserts = 0
    for row in uow.session.execute(_UPSERTS, params):
        upserts += 1
        data = json.loads(bytes(row.value)).get("data", {})
        accounts.update(data.get("account_ids") or [])
        linked.update(data.get("linked_customer_ids") or [])
    if not links and not tombstones and not upserts:
        return None
    customer_ids = {customer_id}
    if linked:  # a linked id that is itself a canonical customer of the tenant is the same person
        others = uow.session.execute(_LINKS, {"tenant": uow.tenant, "ids": sorted(linked)}).all()
        customer_ids.update(r.customer_id for r in others)
        links = [*links, *others]
    needles = [
        json.dumps({"customer_id": c}, ensure_ascii=False, separators=(",", ":"))[1:-1].encode()
        for c in sorted(customer_ids)
    ]
    accounts.update(
        k for k in uow.session.execute(_INVOICED, {"tenant": uow.tenant, "needles": needles}).scalars() if k
    )
    return KnownCustomer(
        customer_id=customer_id,
        customer_ids=sorted(customer_ids),
        links=sorted({(r.source, r.source_customer_id) for r in links}),
        account_ids=sorted(accounts),
        erased_at=tombstones.get(customer_id),
    )


_FORGET_CONTACTS = text(
    """
    UPDATE ingest.customers SET document_id = NULL, email = NULL, phone = NULL, updated_at = :now
     WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:ids AS text[]))
       AND (document_id IS NOT NULL OR email IS NOT NULL OR phone IS NOT NULL)
    """
)
_FORGET_RESPONSES = text(
    """
    UPDATE ingest.idempotency_keys AS k SET response = k.response - 'customer'
      FROM unnest(CAST(:sources AS text[]), CAST(:operations AS text[])) AS v(source, operation)
     WHERE k.tenant_id = :tenant AND k.source = v.source AND k.operation = v.operation
       AND k.response ? 'customer'
    """
)
"""``PUT /v1/customers/{id}`` stores its answer (the customer as emitted) for idempotent retries."""
_FORGET_DEBTORS = text(
    """
    DELETE FROM ingest.debtors WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:ids AS text[]))
    """
)
"""The standardised debtors of invoices (``debtors.py``), by the debtor's id as sent and its canonical ids."""


def erase(uow: UnitOfWork, known: KnownCustomer, account_ids: Sequence[str], *, reason: str | None) -> Erased:
    """Tombstone, erase ingest's own copy and emit ``cobranza.customer.erased``, in ``uow``'s transaction."""
    from libs.platform.privacy import scrub_event_log
    from services.ingest.service import SPEC

    now = uow.now()
    ids = known.customer_ids
    uow.session.execute(
        pg_insert(erasures).on_conflict_do_nothing(),
        [
            {
                "tenant_id": uow.tenant,
                "customer_id": c,
                "erased_at": now,
                "legal_basis": LEGAL_BASIS,
                "reason": reason,
            }
            for c in ids
        ],
    )
    contacts = uow.session.execute(_FORGET_CONTACTS, {"tenant": uow.tenant, "ids": ids, "now": now})
    responses = uow.session.execute(
        _FORGET_RESPONSES,
        {
            "tenant": uow.tenant,
            "sources": [s for s, _ in known.links],
            "operations": [f"PUT /v1/customers/{sid}" for _, sid in known.links],
        },
    )
    debtors = uow.session.execute(
        _FORGET_DEBTORS, {"tenant": uow.tenant, "ids": sorted({*ids, *(sid for _, sid in known.links)})}
    )
    needles = [*ids, *(sid for _, sid in known.links), *account_ids]
    log = scrub_event_log(uow.session, SPEC.tables, uow.tenant, needles)
    first = None
    for customer_id in ids:
        envelope = uow.emit(
            CustomerErased(
                customer_id=customer_id,
                account_ids=list(account_ids),
                requested_at=now,
                legal_basis=LEGAL_BASIS,
            )
        )
        first = first or envelope.id
    assert first is not None
    return Erased(
        first,
        {
            "customer_links": getattr(contacts, "rowcount", 0),
            "stored_responses": getattr(responses, "rowcount", 0),
            "standardised_debtors": getattr(debtors, "rowcount", 0),
            "outbox_rows": log["outbox"],
            "timers": log["timers"],
        },
    )


# --- a re-sent record of an erased customer -----------------------------------------------------

_ERASED_LINKS = text(
    """
    SELECT c.source_customer_id, e.customer_id, e.erased_at
      FROM ingest.customers AS c
      JOIN ingest.erasures AS e ON e.tenant_id = c.tenant_id AND e.customer_id = c.customer_id
     WHERE c.tenant_id = :tenant AND c.source = :source AND c.source_customer_id = ANY(CAST(:ids AS text[]))
    """
)


def erased_among(
    uow: UnitOfWork, source: str, source_customer_ids: Sequence[str]
) -> dict[str, tuple[str, datetime]]:
    """source customer id -> (erased canonical id, when) for those of ``source``'s ids that were erased."""
    if not source_customer_ids:
        return {}
    rows = uow.session.execute(
        _ERASED_LINKS, {"tenant": uow.tenant, "source": source, "ids": sorted(set(source_customer_ids))}
    )
    return {r.source_customer_id: (r.customer_id, r.erased_at) for r in rows}


def _why(source_customer_id: str, erased_at: datetime) -> str:
    return (
        f"customer {source_customer_id!r} was erased on {erased_at.date().isoformat()} "
        f"({LEGAL_BASIS}, Ley 1581 de 2012): its records are not accepted again"
    )


def _split_erased(
    uow: UnitOfWork, source: str, items: list[tuple[int, CustomerUpserted]]
) -> tuple[list[tuple[int, CustomerUpserted]], list[tuple[int, CustomerUpserted, tuple[str, datetime]]]]:
    """``items`` (index, customer) parted into those not erased and those erased, with (canonical id, when)."""
    erased = erased_among(uow, source, [c.customer_id for _, c in items])
    kept, refused = [], []
    for index, customer in items:
        found = erased.get(customer.customer_id)
        if found is None:
            kept.append((index, customer))
        else:
            refused.append((index, customer, found))
    return kept, refused


def refuse_erased(uow: UnitOfWork, source: str, source_customer_id: str) -> None:
    """``PUT /v1/customers/{id}`` of an erased customer: StandardisationError on ``customer_id`` (422)."""
    found = erased_among(uow, source, [source_customer_id]).get(source_customer_id)
    if found is not None:
        raise StandardisationError("customer_id", _why(source_customer_id, found[1]))


def reject_erased(
    uow: UnitOfWork,
    source: str,
    drafts: list[tuple[int, CustomerUpserted]],
    results: dict[int, ItemResult],
) -> list[tuple[int, CustomerUpserted]]:
    """A bulk request's customers without the erased ones, each of those reported as rejected."""
    from services.ingest.service_layer.commands import FieldError, ItemResult

    kept, refused = _split_erased(uow, source, drafts)
    for index, draft, (_canonical, erased_at) in refused:
        results[index] = ItemResult(
            index,
            "rejected",
            draft.customer_id,
            errors=[FieldError("customer_id", _why(draft.customer_id, erased_at))],
        )
    return kept


def drop_erased(
    uow: UnitOfWork, source: str, items: list[tuple[int, CustomerUpserted]], out: list[Any]
) -> list[tuple[int, CustomerUpserted]]:
    """The inbound topic's customers without the erased ones: each of those is dropped (``out[i] = None``)
    and dead-lettered with a record that names the erasure (ids and dates, never the data)."""
    kept, refused = _split_erased(uow, source, items)
    for index, payload, (canonical, erased_at) in refused:
        out[index] = None
        record = {
            "erased_customer_id": canonical,
            "source": source,
            "source_customer_id": payload.customer_id,
            "erased_at": erased_at.isoformat(),
        }
        uow.dead_letter(
            topic=Topics.DEAD_LETTER,
            key=canonical,
            value=json.dumps(record, sort_keys=True).encode(),
            headers={
                "dlq_reason": _why(payload.customer_id, erased_at),
                "dlq_kind": "erased_customer",
                "dlq_service": "ingest",
                "dlq_topic": Topics.INBOUND,
                "dlq_tenant": uow.tenant,
                "dlq_event_type": payload.event_type,
                "dlq_event_id": str(
                    uuid.uuid5(
                        uuid.NAMESPACE_URL,
                        f"erased|{uow.tenant}|{source}|{payload.customer_id}|{uow.now().isoformat()}",
                    )
                ),
                "dlq_at": uow.now().isoformat(),
            },
        )
    return kept


__all__ = [
    "Erased",
    "KnownCustomer",
    "drop_erased",
    "erase",
    "erased_among",
    "known_customer",
    "refuse_erased",
    "reject_erased",
]
