"""The append-only audit log of human actions, and how a route adds to its row.

The app's middleware writes one row per mutating request of a person (a JWT, or a key of a role
people use: everyone but ``ingest`` and ``provider`` machines) after the response, with its status.
A route may say more through ``audit_note(request)``: ``object_ids``, ``before`` and ``after``.
The table refuses UPDATE, DELETE and TRUNCATE (trigger, see the migrations), but for one change:
:func:`erase_personal_data`, the habeas-data erasure of a customer's personal data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from fastapi import Request
from sqlalchemy import Connection, insert, select, text

from libs.auth.orm import audit_log
from libs.auth.principal import Principal

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SCOPE_KEY = "cobranza.audit"


@dataclass
class AuditNote:
    """What a route adds to its request's audit row: JSON values, or rows, mappings, pydantic models,
    Decimals and dates, which :func:`jsonable` turns into JSON when the row is written."""

    object_ids: dict[str, Any] = field(default_factory=dict)
    before: Any = None
    after: Any = None


def audit_note(request: Request) -> AuditNote:
    """The current request's note (``audit_note(request).before = {...}``)."""
    note = request.scope.get(SCOPE_KEY)
    if not isinstance(note, AuditNote):
        note = AuditNote()
        request.scope[SCOPE_KEY] = note
    return note


@dataclass(frozen=True)
class AuditEntry:
    principal: Principal
    at: datetime
    service: str
    method: str
    route: str
    path: str
    status: int
    note: AuditNote
    path_params: dict[str, Any]
    correlation_id: str | None


def jsonable(value: Any) -> Any:
    """VALUE as JSON for the audit row: money and rates as exact decimal strings (never floats),
    dates and times in ISO 8601, rows and mappings as objects, pydantic models by their JSON dump."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return jsonable(dump(mode="json"))
    mapping = getattr(value, "_mapping", None)  # a SQLAlchemy Row
    if isinstance(mapping, Mapping):
        value = mapping
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


def _clean(value: Any) -> Any:
    """PostgreSQL text and JSONB refuse NUL: a hostile path must still leave its audit row."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_clean(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_entry(conn: Connection, entry: AuditEntry) -> None:
    p = entry.principal
    conn.execute(
        insert(audit_log).values(
            tenant_id=p.tenant,
            at=entry.at,
            actor=p.subject,
            actor_kind=p.kind,
            role=",".join(sorted(p.roles)),
            service=entry.service,
            method=entry.method,
            route=_clean(entry.route),
            path=_clean(entry.path[:2000]),
            object_ids=_clean(
                jsonable({**{k: str(v) for k, v in entry.path_params.items()}, **entry.note.object_ids})
            ),
            before=_clean(jsonable(entry.note.before)),
            after=_clean(jsonable(entry.note.after)),
            status=entry.status,
            correlation_id=entry.correlation_id,
        )
    )


def query(
    conn: Connection,
    tenant: str,
    *,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    route: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    q = select(audit_log).where(audit_log.c.tenant_id == tenant)
    if actor is not None:
        q = q.where(audit_log.c.actor == actor)
    if since is not None:
        q = q.where(audit_log.c.at >= since)
    if until is not None:
        q = q.where(audit_log.c.at < until)
    if route is not None:
        q = q.where(audit_log.c.route == route)
    q = q.order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit)
    return [
        {
            "id": row.id,
            "at": row.at.isoformat(),
            "actor": row.actor,
            "actor_kind": row.actor_kind,
            "role": row.role,
            "service": row.service,
            "method": row.method,
            "route": row.route,
            "path": row.path,
            "object_ids": row.object_ids,
            "before": row.before,
            "after": row.after,
            "status": row.status,
            "correlation_id": row.correlation_id,
        }
        for row in conn.execute(q)
    ]


def erase_personal_data(
    conn: Connection, tenant: str, customer_ids: Sequence[str], account_ids: Sequence[str]
) -> int:
    """Erase a data subject from the audit log (habeas data): the rows about these customers keep who,
    when, what and the ids but their ``before``/``after`` become ``{"erased": "habeas_data"}``; the rows
    about their accounts lose the free text people typed (notes, details, reasons, remittance
    references). Returns how many rows changed. Run on the ``auth`` role's connection (the table's
    owner: ``make_engine(url, service="auth")``); the table refuses every other change."""
    changed = conn.execute(
        text(
            "SELECT auth.erase_personal_data(:tenant, CAST(:customers AS text[]), CAST(:accounts AS text[]))"
        ),
        {"tenant": tenant, "customers": list(customer_ids), "accounts": list(account_ids)},
    ).scalar_one()
    return int(changed)
