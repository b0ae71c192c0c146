"""The FastAPI app every service serves: its routers plus health, readiness and metrics.

Every app also gets the same guards against bad input, so no service answers a 500 for it:

* a request body limit (``COBRANZA_HTTP_MAX_BODY_BYTES``, 10 MiB by default) that counts the
  bytes as they stream in, not only what ``Content-Length`` claims: 413 with a short JSON body;
* control characters (NUL, ESC, DEL, C1…) in a path or query parameter: 422 with its location
  (body fields are refused by the contract types, ``libs.events.types``);
* validation errors whose ``input`` is cut to a few hundred characters, so a 422 never echoes
  megabytes back, and bytes that are not UTF-8 never make the error handler itself fail.
"""

from __future__ import annotations

import html
import logging
import time
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from libs.auth.audit import MUTATING, SCOPE_KEY, AuditEntry, AuditNote, write_entry
from libs.auth.audit import query as audit_query
from libs.auth.guard import PRINCIPAL_KEY, Authenticator, authorize, current_principal
from libs.auth.principal import Principal
from libs.auth.routes import api_routes, matched_template
from libs.runtime.context import ServiceContext
from libs.runtime.observability import HTTP_REQUESTS, HTTP_SECONDS, correlation_id, install_http_operations

log = logging.getLogger(__name__)


def get_context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[ServiceContext, Depends(get_context)]


def get_session(ctx: ContextDep):  # type: ignore[no-untyped-def]
    with ctx.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

TENANT_HEADER = "X-Cobranza-Tenant"
"""No longer a way to pick a tenant: the tenant is the credential's (kept for old clients, ignored)."""
DEFAULT_TENANT = "default"


def current_tenant(principal: Annotated[Principal, Depends(current_principal)]) -> str:
    """The tenant of an HTTP request, from its credential: every query and emitted event is scoped to it."""
    return principal.tenant


PrincipalDep = Annotated[Principal, Depends(current_principal)]
TenantDep = Annotated[str, Depends(current_tenant)]


class HttpSettings(BaseSettings):
    """What every service's HTTP API accepts (env prefix ``COBRANZA_HTTP_``)."""

    model_config = SettingsConfigDict(env_prefix="COBRANZA_HTTP_", extra="ignore")

    max_body_bytes: int = Field(
        default=10 * 1024 * 1024, ge=0, description="largest request body (a 10,000-item bulk fits)"
    )
    max_error_input_chars: int = Field(
        default=200, ge=16, description="how much of a rejected value a 422 repeats back"
    )


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` mid-stream; FastAPI passes HTTP exceptions through, so it becomes a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class BodySizeLimit:
    """ASGI middleware: refuse bodies over ``max_bytes``, by ``Content-Length`` up front and by
    counting the streamed chunks (a chunked upload, or a ``Content-Length`` that lies)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _too_large(self.max_bytes, scope, send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await _too_large(self.max_bytes, scope, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(limit: int, scope: Scope, send: Send) -> None:
    response = JSONResponse({"detail": f"request body larger than {limit} bytes"}, status_code=413)
    await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def _control_character(value: str) -> str | None:
    return next((ch for ch in value if unicodedata.category(ch) in ("Cc", "Cs")), None)


def reject_control_characters(request: Request) -> None:
    """App-wide dependency: no path or query parameter may carry control characters (422 with its location)."""
    errors: list[dict[str, Any]] = []
    for name, value in request.path_params.items():
        if isinstance(value, str) and (bad := _control_character(value)) is not None:
            errors.append(_control_error(("path", name), value, bad))
    for name, value in request.query_params.multi_items():
        if (bad := _control_character(name + value)) is not None:
            errors.append(_control_error(("query", name), value, bad))
    if errors:
        raise RequestValidationError(errors)


def _control_error(loc: tuple[str, str], value: str, bad: str) -> dict[str, Any]:
    return {
        "type": "control_character",
        "loc": loc,
        "msg": f"must not contain control characters (found U+{ord(bad):04X})",
        "input": value,
    }


def _shorten(value: Any, limit: int, depth: int = 0) -> Any:
    """A JSON-safe, bounded copy of a rejected value."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value if len(value) <= limit else f"{value[:limit]}… ({len(value)} characters)"
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= 2:
        return f"<{type(value).__name__}>"
    if isinstance(value, dict):
        items = list(value.items())
        out = {str(k)[:limit]: _shorten(v, limit, depth + 1) for k, v in items[:10]}
        if len(items) > 10:
            out["…"] = f"{len(items) - 10} more keys"
        return out
    if isinstance(value, list | tuple):
        shown = [_shorten(v, limit, depth + 1) for v in value[:5]]
        return shown + ([f"… {len(value) - 5} more items"] if len(value) > 5 else [])
    return _shorten(str(value), limit, depth)


def bounded_errors(errors: Sequence[Any], limit: int) -> list[dict[str, Any]]:
    """Validation errors as JSON-safe dicts: locations, messages and inputs cut to ``limit`` characters."""
    out = []
    for error in errors[:100]:
        item = {
            "type": str(error.get("type", "value_error")),
            "loc": [p if isinstance(p, int) else _shorten(str(p), limit) for p in error.get("loc", ())],
            "msg": _shorten(str(error.get("msg", "")), limit),
        }
        if "input" in error:
            item["input"] = _shorten(error["input"], limit)
        if error.get("ctx"):
            item["ctx"] = {
                str(k): _shorten(v if isinstance(v, int | float) else str(v), limit)
                for k, v in error["ctx"].items()
            }
        out.append(item)
    return out


MAX_CORRELATION_ID = 200
"""The envelope's ``correlationid`` bound: a longer header would make every emitted event invalid."""


def usable_correlation_id(value: str | None) -> str | None:
    """The caller's ``x-correlation-id`` when it fits an event envelope (one printable line of at most
    200 characters); otherwise None, and the request gets a fresh id instead of failing."""
    if not value or len(value) > MAX_CORRELATION_ID or _control_character(value) is not None:
        return None
    return value


def _route_template(request: Request) -> str:
    """The template of the route that served REQUEST (after routing), else ``unmatched``."""
    return matched_template(request.scope) or "unmatched"


async def _audit(ctx: ServiceContext, request: Request, route: str, status: int, cid: str) -> None:
    """One audit row for a person's mutating request, after the response (its outcome is known)."""
    principal = request.scope.get(PRINCIPAL_KEY)
    if request.method not in MUTATING or not isinstance(principal, Principal) or not principal.human:
        return
    note = request.scope.get(SCOPE_KEY)
    entry = AuditEntry(
        principal=principal,
        at=ctx.clock.now(),
        service=ctx.name,
        method=request.method,
        route=route,
        path=request.url.path,
        status=status,
        note=note if isinstance(note, AuditNote) else AuditNote(),
        path_params=dict(request.scope.get("path_params") or {}),
        correlation_id=cid,
    )

    def write() -> None:
        with ctx.engine.begin() as conn:
            write_entry(conn, entry)

    try:
        await anyio.to_thread.run_sync(write)
    except Exception:  # the response stands; a lost audit row is logged loudly, with what it was
        log.exception("audit row not written: %s %s by %s", entry.method, entry.route, principal.subject)


def audit_router(ctx: ServiceContext, taken: set[str]) -> APIRouter:
    """``GET /v1/audit`` (where the service has no route of that path: reconciliation's is its match
    audit) and ``GET /v1/auth/audit`` everywhere: the audit log of the credential's tenant."""
    router = APIRouter(tags=["audit"])

    def read_audit(
        principal: PrincipalDep,
        actor: Annotated[
            str | None, Query(max_length=300, description="``key:<id>`` or a JWT subject")
        ] = None,
        since: Annotated[datetime | None, Query(description="from this time (inclusive)")] = None,
        until: Annotated[datetime | None, Query(description="before this time")] = None,
        route: Annotated[str | None, Query(max_length=300, description="a route template")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """Audit rows of the caller's tenant, newest first."""
        with ctx.engine.connect() as conn:
            return audit_query(
                conn, principal.tenant, actor=actor, since=since, until=until, route=route, limit=limit
            )

    for path in ("/v1/audit", "/v1/auth/audit"):
        if path not in taken:
            router.add_api_route(path, read_audit, methods=["GET"], name=f"audit_log{path.replace('/', '_')}")
    return router


def _wants_html(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    ctx: ServiceContext, lifespan: Lifespan | None = None, http: HttpSettings | None = None
) -> FastAPI:
    limits = http or HttpSettings()
    app = FastAPI(
        title=f"cobranza {ctx.name}",
        description=ctx.spec.description,
        version="0.1.0",
        lifespan=lifespan,
        dependencies=[Depends(authorize), Depends(reject_control_characters)],
    )
    app.state.ctx = ctx
    app.state.authenticator = ctx.extras.get("authenticator") or Authenticator(ctx.engine)
    for factory in ctx.spec.routers:
        app.include_router(factory(ctx))
    app.include_router(audit_router(ctx, taken={template for template, _, _ in api_routes(app)}))

    @app.exception_handler(RequestValidationError)
    async def validation_failed(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"detail": bounded_errors(exc.errors(), limits.max_error_input_chars)}, status_code=422
        )

    has_login = any(template == "/login" for template, _, _ in api_routes(app))

    @app.exception_handler(HTTPException)
    async def http_failed(request: Request, exc: HTTPException) -> Response:
        """A browser without a credential on a page of an app with a login form gets the 401 as a
        page pointing to the form; every other client the usual JSON (and ``WWW-Authenticate``)."""
        if exc.status_code == 401 and has_login and _wants_html(request):
            target = html.escape("/login?" + urlencode({"next": request.url.path}), quote=True)
            page = f'<!doctype html><meta http-equiv="refresh" content="0; url={target}"><a href="{target}">login</a>'
            return HTMLResponse(page, status_code=401, headers=exc.headers)
        return await http_exception_handler(request, exc)

    app.add_middleware(BodySizeLimit, max_bytes=limits.max_body_bytes)

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        cid = usable_correlation_id(request.headers.get("x-correlation-id")) or str(uuid.uuid4())
        token = correlation_id.set(cid)
        started = time.perf_counter()
        request.scope[SCOPE_KEY] = AuditNote()
        try:
            response = await call_next(request)
        finally:
            correlation_id.reset(token)
        route = _route_template(request)
        await _audit(ctx, request, route, response.status_code, cid)
        HTTP_REQUESTS.labels(ctx.name, route, request.method, str(response.status_code)).inc()
        HTTP_SECONDS.labels(ctx.name, route, request.method).observe(time.perf_counter() - started)
        response.headers["x-correlation-id"] = cid
        return response

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "service": ctx.name}

    @app.get("/readyz", tags=["operations"])
    def readyz() -> JSONResponse:
        """Readiness: the database answers and the broker is reachable."""
        checks: dict[str, str] = {}
        try:
            with ctx.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {exc.__class__.__name__}"
        checks["broker"] = "ok" if ctx.broker_ready() else "unreachable"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    def metrics() -> Response:
        try:
            from libs.runtime.observability import OUTBOX_BACKLOG

            OUTBOX_BACKLOG.labels(ctx.name).set(ctx.outbox_backlog())
        except Exception:  # metrics must answer even when the database does not
            pass
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    install_http_operations(app, ctx.name)
    return app
