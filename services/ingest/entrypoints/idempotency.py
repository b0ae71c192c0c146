"""``Idempotency-Key`` for ingest's commands (per tenant, source system and key).

The key row is inserted in the command's own transaction, before the command runs: a
concurrent retry blocks on the primary key until the first commits and then replays its
stored response; if the first failed (rolled back), the retry simply runs. Reusing a key
with a different body is HTTP 422, as the IETF Idempotency-Key draft recommends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, status
from fastapi.responses import JSONResponse
from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from libs.events.envelope import dumps
from libs.runtime.context import ServiceContext
from libs.runtime.observability import correlation_id
from libs.runtime.uow import UnitOfWork
from services.ingest.adapters.orm import idempotency_keys

Command = Callable[[UnitOfWork], tuple[int, dict[str, Any]]]
REPLAYED_HEADER = "Idempotency-Replayed"


def request_hash(operation: str, body: Any) -> str:
    return hashlib.sha256(f"{operation}\n{dumps(body)}".encode()).hexdigest()


def run_command(
    ctx: ServiceContext,
    *,
    tenant: str,
    source: str,
    key: str | None,
    operation: str,
    body: Any,
    command: Command,
) -> JSONResponse:
    """Run ``command`` in one unit of work of ``tenant``; with a key, at most once per (tenant, source, key).

    The body is hashed only under a key (canonical JSON of a 1,000-item bulk body: ~7 ms)."""
    with ctx.unit_of_work(correlation_id=correlation_id.get(), tenant=tenant) as uow:
        if key is not None:
            replay = _claim(uow, source, key, operation, request_hash(operation, body))
            if replay is not None:
                return replay
        code, payload = command(uow)
        if key is not None:
            uow.session.execute(
                update(idempotency_keys)
                .where(_this_key(uow, source, key))
                .values(status_code=code, response=payload)
            )
    return JSONResponse(payload, status_code=code)


def _this_key(uow: UnitOfWork, source: str, key: str) -> ColumnElement[bool]:
    c = idempotency_keys.c
    return and_(c.tenant_id == uow.tenant, c.source == source, c.key == key)


def _claim(uow: UnitOfWork, source: str, key: str, operation: str, digest: str) -> JSONResponse | None:
    if not key or len(key) > 200:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Idempotency-Key must be 1 to 200 characters")
    claimed = uow.session.execute(
        pg_insert(idempotency_keys)
        .values(
            tenant_id=uow.tenant,
            source=source,
            key=key,
            operation=operation,
            request_hash=digest,
            created_at=uow.now(),
        )
        .on_conflict_do_nothing()
        .returning(idempotency_keys.c.key)
    ).first()
    if claimed is not None:
        return None
    stored = uow.session.execute(select(idempotency_keys).where(_this_key(uow, source, key))).one()
    if stored.request_hash != digest or stored.operation != operation:
        raise HTTPException(
            422,
            detail=[
                {
                    "loc": ["header", "Idempotency-Key"],
                    "msg": f"key {key!r} was already used for a different request "
                    f"({stored.operation}); use a new key for a new request",
                    "type": "idempotency_key_reused",
                }
            ],
        )
    return JSONResponse(stored.response, status_code=stored.status_code, headers={REPLAYED_HEADER: "true"})
