"""The debtors of a batch of invoices, standardised once per tenant, not once per invoice.

A month-end night sends one invoice per instalment, and the next month the same debtors again:
standardising one (phonenumbers, email-validator) costs 0.1 to 0.3 ms, reading it back costs a few
µs. ``ingest.debtors`` keeps each standardised debtor under the sha256 of the debtor as sent
(every field of ``CustomerIn``, and the versions of the libraries whose rules decide the result,
so an upgrade of phonenumbers' numbering plans re-standardises). A batch reads all its debtors in
one statement, standardises only those it has never seen, and stores them in one statement.

Habeas data: the rows are erased with the customer (``privacy.erase`` deletes them by the debtor's
id as sent and its canonical ids) and never written for a customer already erased (the insert
skips debtors whose link row points at a tombstone), so a re-sent invoice cannot bring the data back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from pydantic import ValidationError
from sqlalchemy import text

from libs.events.payloads.invoices import Customer
from libs.runtime.uow import UnitOfWork
from services.ingest.adapters.sql import any_of, json_rows, text_array
from services.ingest.domain.requests import CustomerIn, standard_customer
from services.ingest.domain.standardise import StandardisationError, one_batch

RULES = f"v1|phonenumbers {version('phonenumbers')}|email-validator {version('email-validator')}|"
"""What a stored debtor was standardised with: part of its digest, so other rules never read it."""

_FIELDS = tuple(Customer.model_fields)

_READ = text(
    f"""
    SELECT digest, data FROM ingest.debtors
     WHERE tenant_id = :tenant AND digest = {any_of("digests")}
    """
)
_STORE = text(
    """
    INSERT INTO ingest.debtors AS d (tenant_id, digest, customer_id, data, created_at)
    SELECT CAST(:tenant AS text), r.digest, r.customer_id, r.data, :now
      FROM json_to_recordset(CAST(:rows AS json)) AS r(digest text, customer_id text, data jsonb)
     WHERE NOT EXISTS (
           SELECT 1 FROM ingest.customers AS c
             JOIN ingest.erasures AS e ON e.tenant_id = c.tenant_id AND e.customer_id = c.customer_id
            WHERE c.tenant_id = CAST(:tenant AS text) AND c.source = :source
              AND c.source_customer_id = r.customer_id)
     ORDER BY r.digest
    ON CONFLICT DO NOTHING
    """
)
"""New debtors, except those of a customer erased under this source (the tombstone's link row); in
digest order, so two requests storing the same new debtors wait for each other, never deadlock."""


def digest(key: tuple[Any, ...]) -> str:
    """The stored debtor's key: sha256 of the rules' versions and ``CustomerIn.key()`` as JSON."""
    raw = json.dumps(key, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((RULES + raw).encode()).hexdigest()


Standardised = Customer | StandardisationError | ValidationError


def standardise_debtors(uow: UnitOfWork, source: str, debtors: Sequence[CustomerIn]) -> list[Standardised]:
    """``CustomerIn.standardised()`` of each debtor, in order (the exception when it cannot be):
    one read of the stored ones, each new distinct debtor standardised once and stored."""
    keys = [d.key() for d in debtors]
    digests = {key: digest(key) for key in dict.fromkeys(keys)}
    rows = uow.session.execute(
        _READ, {"tenant": uow.tenant, "digests": text_array(sorted(set(digests.values())))}
    )
    stored = {r.digest: r.data for r in rows}
    done: dict[tuple[Any, ...], Standardised] = {}
    new: list[dict[str, Any]] = []
    with one_batch():  # debtors that differ only in their name share the phone's parse
        for key, key_digest in digests.items():
            data = stored.get(key_digest)
            if data is not None:
                done[key] = Customer.model_construct(**{f: data.get(f) for f in _FIELDS})
                continue
            try:
                customer = standard_customer(key)
            except (StandardisationError, ValidationError) as exc:
                done[key] = exc
                continue
            done[key] = customer
            new.append(
                {
                    "digest": key_digest,
                    "customer_id": customer.customer_id,
                    "data": customer.model_dump(mode="json"),
                }
            )
    if new:
        uow.session.execute(
            _STORE,
            {"tenant": uow.tenant, "source": source, "now": uow.now(), "rows": json_rows(new)},
        )
    return [done[key] for key in keys]


__all__ = ["RULES", "digest", "standardise_debtors"]
