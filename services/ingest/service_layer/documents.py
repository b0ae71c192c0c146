"""``ingest.received``: what each (tenant, source) already sent, and the canonical id minted for it.

Set-based: a batch of documents costs one read and one multi-row insert. Two sources minting
the same canonical id at the same moment meet on the unique index; the loser's savepoint rolls
back and it mints again, now seeing the winner's row (READ COMMITTED).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from libs.runtime.ids import derived_id
from libs.runtime.uow import UnitOfWork
from services.ingest.adapters.orm import MINTED_KINDS
from services.ingest.adapters.sql import any_of, json_rows, text_array
from services.ingest.domain.identity import candidates, choose

MINT_ATTEMPTS = 3


def natural_event_id(tenant: str, source: str, kind: str, external_id: str) -> str:
    """The same (tenant, source, kind, id) always gets the same event id, so a replay is dropped downstream;
    the same id from another source or tenant is another event."""
    return derived_id(f"{tenant}|{source}|{kind}|{external_id}", "ingest", 1)


@dataclass(frozen=True)
class Incoming:
    """A document to record: its natural id, and the account and currency it belongs to.

    ``canonical_id`` is given for follow-ups (an adjustment is named after its invoice's
    canonical id); invoices and payments leave it to the minting rule.
    """

    external_id: str
    account_id: str | None = None
    currency: str | None = None
    canonical_id: str | None = None


@dataclass(frozen=True)
class Recorded:
    external_id: str
    canonical_id: str
    event_id: str
    new: bool
    """False: this source already sent this id (a duplicate)."""


@dataclass(frozen=True)
class Resolved:
    """A source's reference to one of its documents."""

    canonical_id: str
    account_id: str | None
    currency: str | None
    known: bool
    """False: the source never sent it; ``canonical_id`` is what it would have been given."""


_ROWS = text(
    f"""
    SELECT source, external_id, canonical_id, account_id, currency
      FROM ingest.received
     WHERE tenant_id = :tenant AND source = :source AND kind = :kind
       AND external_id = {any_of("naturals")}
    UNION
    SELECT source, external_id, canonical_id, account_id, currency
      FROM ingest.received
     WHERE tenant_id = :tenant AND kind = :kind AND kind IN ('invoice', 'payment')
       AND canonical_id = {any_of("minted")}
    """
)
"""Two index lookups (the primary key; ``uq_received_canonical``, whose partial predicate the second
branch repeats so a generic plan still uses it): an ``OR`` of the two made PostgreSQL scan."""


def _rows(
    uow: UnitOfWork, source: str, kind: str, naturals: Collection[str], minted: Collection[str]
) -> Sequence[Any]:
    """This source's rows for ``naturals`` and anyone's rows holding one of the ``minted`` ids: one read."""
    params = {
        "tenant": uow.tenant,
        "source": source,
        "kind": kind,
        "naturals": text_array(sorted(naturals)),
        "minted": text_array(sorted(minted)),
    }
    return uow.session.execute(_ROWS, params).all()


def record_documents(
    uow: UnitOfWork, source: str, kind: str, documents: Sequence[Incoming]
) -> dict[str, Recorded]:
    """Record what ``source`` sent (first occurrence of each id wins); mint canonical ids for the new ones."""
    first: dict[str, Incoming] = {}
    for document in documents:
        first.setdefault(document.external_id, document)
    if not first:
        return {}
    if kind not in MINTED_KINDS:  # named after their document: no unique canonical id to race for
        return _record(uow, source, kind, first)
    for attempt in range(1, MINT_ATTEMPTS + 1):
        try:
            with uow.session.begin_nested():
                return _record(uow, source, kind, first)
        except IntegrityError:
            if attempt == MINT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _record(uow: UnitOfWork, source: str, kind: str, first: dict[str, Incoming]) -> dict[str, Recorded]:
    tenant = uow.tenant
    wanted = {option for ext in first for option in candidates(source, ext)}
    rows = _rows(uow, source, kind, first, wanted)
    out = {
        r.external_id: Recorded(
            r.external_id, r.canonical_id, natural_event_id(tenant, source, kind, r.external_id), False
        )
        for r in rows
        if r.source == source and r.external_id in first
    }
    taken = {r.canonical_id for r in rows}
    new: list[_Row] = []
    for ext, document in first.items():
        if ext in out:
            continue
        canonical = document.canonical_id or choose(source, ext, taken)
        taken.add(canonical)
        event_id = natural_event_id(tenant, source, kind, ext)
        new.append(_Row(ext, canonical, event_id, document.account_id, document.currency))
    inserted = _insert(uow, source, kind, new)
    lost = {row.external_id for row in new} - inserted  # a concurrent request of this source won
    held = {r.external_id: r.canonical_id for r in _rows(uow, source, kind, lost, ())} if lost else {}
    for row in new:
        canonical = held.get(row.external_id, row.canonical_id)
        out[row.external_id] = Recorded(row.external_id, canonical, row.event_id, row.external_id in inserted)
    return out


def record_new(
    uow: UnitOfWork, source: str, kind: str, rows: Sequence[tuple[str, str, str | None, str | None]]
) -> set[str]:
    """Record (external_id, event_id, account_id, currency) rows of an auxiliary kind (a statement's
    matching keys pointing at a payment's event): no canonical id is minted, the key is its own.
    Returns the ids that were new."""
    return _insert(
        uow,
        source,
        kind,
        [_Row(ext, ext, event, account, currency) for ext, event, account, currency in rows],
    )


@dataclass(frozen=True)
class _Row:
    external_id: str
    canonical_id: str
    event_id: str
    account_id: str | None
    currency: str | None


_INSERT = text(
    """
    INSERT INTO ingest.received
           (tenant_id, source, kind, external_id, canonical_id, event_id, received_at, account_id, currency)
    SELECT :tenant, :source, :kind, u.e, u.c, u.v, :now, u.a, u.m
      FROM json_to_recordset(CAST(:rows AS json)) AS u(e text, c text, v text, a text, m text)
    ON CONFLICT (tenant_id, source, kind, external_id) DO NOTHING
    RETURNING external_id
    """
)


def _insert(uow: UnitOfWork, source: str, kind: str, rows: Sequence[_Row]) -> set[str]:
    """One multi-row insert of the rows as one JSON parameter (``adapters.sql``); the ids that were new."""
    if not rows:
        return set()
    params = {
        "tenant": uow.tenant,
        "source": source,
        "kind": kind,
        "now": uow.now(),
        "rows": json_rows(
            {"e": r.external_id, "c": r.canonical_id, "v": r.event_id, "a": r.account_id, "m": r.currency}
            for r in rows
        ),
    }
    return set(uow.session.execute(_INSERT, params).scalars())


def resolve_documents(
    uow: UnitOfWork, source: str, kind: str, naturals: Collection[str]
) -> dict[str, Resolved]:
    """What ``source`` means by each of its ids: its own document's canonical id, account and currency;
    for an id it never sent, the canonical id the minting rule gives it (unknown account)."""
    unique = set(naturals)
    if not unique:
        return {}
    rows = _rows(uow, source, kind, unique, {option for n in unique for option in candidates(source, n)})
    out = {
        r.external_id: Resolved(r.canonical_id, r.account_id, r.currency, True)
        for r in rows
        if r.source == source and r.external_id in unique
    }
    taken = {r.canonical_id for r in rows}
    for natural in unique - set(out):
        out[natural] = Resolved(choose(source, natural, taken), None, None, False)
    return out


__all__ = [
    "Incoming",
    "Recorded",
    "Resolved",
    "natural_event_id",
    "record_documents",
    "record_new",
    "resolve_documents",
]
