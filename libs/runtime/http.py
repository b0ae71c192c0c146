"""The FastAPI app every service serves: its routers plus health, readiness and metrics."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.routing import Match

from libs.runtime.context import ServiceContext
from libs.runtime.observability import HTTP_REQUESTS, HTTP_SECONDS, correlation_id


def get_context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[ServiceContext, Depends(get_context)]


def get_session(ctx: ContextDep):  # type: ignore[no-untyped-def]
    with ctx.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

TENANT_HEADER = "X-Cobranza-Tenant"
DEFAULT_TENANT = "default"


def current_tenant(
    x_cobranza_tenant: Annotated[
        str,
        Header(
            min_length=1,
            max_length=64,
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
            description="the tenant whose data the request reads or changes (until credentials carry it)",
        ),
    ] = DEFAULT_TENANT,
) -> str:
    """The tenant of an HTTP request: every query and every emitted event is scoped to it."""
    return x_cobranza_tenant


TenantDep = Annotated[str, Depends(current_tenant)]


def _route_template(request: Request) -> str:
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        if match == Match.FULL:
            return getattr(route, "path", "unmatched")
    return "unmatched"


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(ctx: ServiceContext, lifespan: Lifespan | None = None) -> FastAPI:
    app = FastAPI(
        title=f"cobranza {ctx.name}",
        description=ctx.spec.description,
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    for factory in ctx.spec.routers:
        app.include_router(factory(ctx))

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        cid = request.headers.get("x-correlation-id") or str(uuid.uuid4())
        token = correlation_id.set(cid)
        started = time.perf_counter()
        route = _route_template(request)
        try:
            response = await call_next(request)
        finally:
            correlation_id.reset(token)
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

    return app
