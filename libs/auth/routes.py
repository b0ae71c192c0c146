"""Route templates: of the request being served, and of every route an app serves.

FastAPI mounts included routers lazily (``_IncludedRouter``), so ``app.routes`` does not list a
service's routes; ``api_routes`` walks the included routers (their prefixes added).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute


def matched_template(scope: MutableMapping[str, Any]) -> str | None:
    """The matched route's template (``/v1/accounts/{account_id}``), once routing has run."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


def api_routes(app: FastAPI) -> Iterator[tuple[str, frozenset[str], APIRoute]]:
    """(template, methods, route) of every API route of APP, included routers too."""
    yield from _walk(app.router.routes, "")


def _walk(routes: Any, prefix: str) -> Iterator[tuple[str, frozenset[str], APIRoute]]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, frozenset(route.methods or ()), route
            continue
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from _walk(included.routes, prefix + str(getattr(context, "prefix", "") or ""))
