"""A bulk request's body, read once and validated in one call.

FastAPI's way for a ``{"items": [...]}`` body costs three passes over 1,000 items: ``json.loads``,
the request model over the dicts, then each item's model over the dicts again. A request whose
items are all valid (the common case) is here ONE ``TypeAdapter.validate_json`` over the raw bytes,
straight to the item models (pydantic-core parses and validates in one pass).

Anything else (a malformed body, a rejected item) takes the careful path, which is what FastAPI
and ``validate_each`` did before, to the byte: the same 400/422 answers for the body as a whole,
and every rejected item with all its errors and field paths. ``tests/unit/ingest/test_bulk_body.py``
holds both paths equal.
"""

from __future__ import annotations

import email.message
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, TypeAdapter, ValidationError, create_model

from libs.events.types import addresses_memoised
from services.ingest.service_layer.commands import validate_each

MAX_BULK_ITEMS = 10_000

M = TypeVar("M", bound=BaseModel)


class BulkRequest(BaseModel):
    """``items`` are validated one by one (see the single-item schema); valid ones are accepted."""

    items: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BULK_ITEMS)


@lru_cache(maxsize=8)
def _typed(model: type[BaseModel]) -> TypeAdapter[Any]:
    """``{"items": [model, …]}`` (1 to 10,000; other keys ignored, like ``BulkRequest``)."""
    typed = create_model(
        f"Bulk{model.__name__}",
        items=(list[model], Field(min_length=1, max_length=MAX_BULK_ITEMS)),  # type: ignore[valid-type]
    )
    return TypeAdapter(typed)


@dataclass
class BulkBody(Generic[M]):
    """The request's items: each validated ``model``, or the ``ValidationError`` that rejects it."""

    checked: list[M | ValidationError]
    raw: list[Any] | None
    body: bytes

    def raw_items(self) -> list[Any]:
        """The items as JSON values (what an ``Idempotency-Key`` hashes); parsed only when asked."""
        if self.raw is None:
            self.raw = json.loads(self.body)["items"]
        return self.raw


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False  # FastAPI's strict content type: no header, no JSON
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _careful(body: bytes, content_type: str | None) -> list[Any]:
    """The items as FastAPI read and validated them into ``BulkRequest``, with its very errors."""
    if not body:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    value: Any = body
    if _is_json(content_type):
        try:
            value = json.loads(body)
        except json.JSONDecodeError as e:
            error = {"type": "json_invalid", "loc": ("body", e.pos), "msg": "JSON decode error", "input": {}}
            raise RequestValidationError([{**error, "ctx": {"error": e.msg}}], body=e.doc) from e
        except Exception as e:  # not UTF-8
            raise HTTPException(status_code=400, detail="There was an error parsing the body") from e
    try:
        return BulkRequest.model_validate(value, from_attributes=True).items  # as FastAPI validates a body
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)], body=value
        ) from None


async def read_bulk(request: Request, model: type[M]) -> BulkBody[M]:
    """The body of a bulk request: read once, validated in one call when every item is valid."""
    body = await request.body()
    content_type = request.headers.get("content-type")
    with addresses_memoised():
        if body and _is_json(content_type):
            try:
                items: list[M] = _typed(model).validate_json(body).items
            except ValidationError:
                pass
            else:
                return BulkBody(list(items), None, body)
        raw = _careful(body, content_type)
        return BulkBody(validate_each(model, raw), raw, body)


__all__ = ["MAX_BULK_ITEMS", "BulkBody", "BulkRequest", "read_bulk"]
