"""Metrics, traces and JSON logs shared by every service (bounded label cardinality)."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

EVENTS_CONSUMED = Counter(
    "cobranza_events_consumed_total", "Events taken off a topic", ["service", "event_type", "outcome"]
)
EVENTS_EMITTED = Counter(
    "cobranza_events_emitted_total", "Events published by the relay", ["service", "event_type"]
)
EVENTS_FAILED = Counter(
    "cobranza_events_failed_total", "Handler attempts that raised", ["service", "event_type"]
)
HANDLER_SECONDS = Histogram(
    "cobranza_handler_seconds",
    "Time spent in a handler, per event",
    ["service", "event_type"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
BATCH_SIZE = Histogram(
    "cobranza_consumer_batch_size",
    "Records per batch a consumer processed",
    ["service"],
    buckets=BATCH_BUCKETS,
)
BATCH_SECONDS = Histogram(
    "cobranza_consumer_batch_seconds",
    "Time to process one batch (decode, inbox, handlers, commit)",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCH_HANDLER_SECONDS = Histogram(
    "cobranza_batch_handler_seconds",
    "Time spent in one call of a batch handler",
    ["service", "handler"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CONSUMER_LAG = Gauge(
    "cobranza_consumer_lag", "Records behind the high watermark", ["service", "topic", "partition"]
)
OUTBOX_BACKLOG = Gauge("cobranza_outbox_backlog", "Outbox rows not yet published", ["service"])
HTTP_REQUESTS = Counter(
    "cobranza_http_requests_total", "HTTP requests", ["service", "route", "method", "status"]
)
HTTP_SECONDS = Histogram("cobranza_http_request_seconds", "HTTP latency", ["service", "route", "method"])
HTTP_ERRORS = Counter(
    "cobranza_http_errors_total",
    "HTTP responses with a 5xx status, unhandled exceptions included",
    ["service", "route", "status_class"],
)


def event_label(event_type: str | None) -> str:
    """Only catalogued types become label values; anything else is 'invalid'."""
    from libs.events.registry import UnknownEventType, model_for

    if not event_type:
        return "invalid"
    try:
        model_for(event_type)
    except UnknownEventType:
        return "invalid"
    return event_type


def handler_label(handler: object) -> str:
    """A batch handler's metric label: its qualified name (a fixed set per service)."""
    return str(getattr(handler, "__qualname__", None) or type(handler).__name__)


class _CorrelationFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.correlation_id = correlation_id.get()
        return True


def configure_logging(service: str, level: str = "INFO", json_format: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_format:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(correlation_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(service)s] %(name)s: %(message)s")
        )
    handler.addFilter(_CorrelationFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


TRACE_EXPORTERS = ("none", "console", "otlp")


def trace_exporter_from_env(configured: str = "none", env: Mapping[str, str] | None = None) -> str:
    """Which span exporter to install, by the OpenTelemetry SDK's standard variables first.

    ``OTEL_TRACES_EXPORTER`` (``otlp`` | ``console`` | ``none``) wins; else the platform setting
    (``COBRANZA_OTEL_EXPORTER``); else an ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`` alone selects OTLP,
    so pointing the standard variable at a collector is all a deployment has to do.
    """
    env = os.environ if env is None else env
    chosen = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if chosen:
        first = chosen.split(",")[0].strip()
        if first not in TRACE_EXPORTERS:
            raise ValueError(f"OTEL_TRACES_EXPORTER={chosen!r}: one of {', '.join(TRACE_EXPORTERS)}")
        return first
    if configured and configured != "none":
        if configured not in TRACE_EXPORTERS:
            raise ValueError(f"otel exporter {configured!r}: one of {', '.join(TRACE_EXPORTERS)}")
        return configured
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return "otlp"
    return "none"


def otlp_span_exporter(env: Mapping[str, str] | None = None) -> Any:
    """The OTLP exporter of the ``otlp`` extra: HTTP/protobuf unless ``OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL``
    says ``grpc``. Endpoint, headers, timeout and certificates come from the standard variables, read
    by the exporter itself."""
    env = os.environ if env is None else env
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    try:
        if protocol.strip().lower() == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )

            return GrpcExporter()
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    except ImportError as exc:  # the [otlp] extra is not installed
        raise SystemExit(
            "OTLP tracing is selected but its exporter is not installed: pip install 'cobranza[otlp]'"
        ) from exc


def configure_tracing(
    service: str, exporter: str = "none", *, install: bool = True, env: Mapping[str, str] | None = None
) -> TracerProvider:
    """An SDK tracer provider with the exporter the environment selects (``trace_exporter_from_env``);
    installed as the global one unless ``install=False``. Spans cross Kafka through the envelope's
    ``traceparent``; HTTP requests continue a caller's ``traceparent`` header (``HttpOperations``)."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    chosen = trace_exporter_from_env(exporter, env)
    provider = TracerProvider(resource=Resource.create({"service.name": f"cobranza-{service}"}))
    if chosen == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif chosen == "otlp":
        provider.add_span_processor(BatchSpanProcessor(otlp_span_exporter(env)))
    if install:
        trace.set_tracer_provider(provider)
    return provider


def status_class(status: int) -> str:
    """``5xx``-style label: bounded whatever a handler answers."""
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"


class HttpOperations:
    """ASGI middleware, the outermost of every service's app: 5xx responses counted by route TEMPLATE
    (``/v1/accounts/{account_id}``, read from the scope after routing; ``unmatched`` when no route
    matched), and an exception no handler caught counted as the 500 it becomes (the app's ``observe``
    middleware never sees that response). The server span is FastAPI's own (its native OpenTelemetry
    support continues a caller's ``traceparent`` and names the span by the route template)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", "GET"))
        status = 500
        started = time.perf_counter()

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        raised = False
        try:
            await self.app(scope, receive, watched)
        except BaseException:
            raised = True
            status = 500
            raise
        finally:
            route = _template(scope)
            if status >= 500:
                HTTP_ERRORS.labels(self.service, route, status_class(status)).inc()
            if raised:  # the app's own middleware counts every response it produced; not this one
                HTTP_REQUESTS.labels(self.service, route, method, "500").inc()
                HTTP_SECONDS.labels(self.service, route, method).observe(time.perf_counter() - started)


def _template(scope: Scope) -> str:
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "unmatched"


DOCS_ASSETS = "/static-offline-docs"
"""Where the Swagger UI and ReDoc bundles are served from (the ``fastapi-offline`` wheel's files)."""


def offline_docs(app: FastAPI) -> None:
    """``/docs`` and ``/redoc`` from assets the service serves itself: an air-gapped network gets the
    same pages (FastAPI's defaults load them from a CDN and render blank without one). Plain routes,
    like FastAPI's own docs routes: the pages hold no data, ``/openapi.json`` is what they read."""
    import fastapi_offline
    from fastapi.openapi.docs import (
        get_redoc_html,
        get_swagger_ui_html,
        get_swagger_ui_oauth2_redirect_html,
    )
    from fastapi.staticfiles import StaticFiles
    from starlette.requests import Request
    from starlette.responses import HTMLResponse

    docs, redoc = app.docs_url or "/docs", app.redoc_url or "/redoc"
    redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    openapi = app.openapi_url or "/openapi.json"
    app.router.routes[:] = [
        r for r in app.router.routes if getattr(r, "path", None) not in (docs, redoc, redirect)
    ]
    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="offline-docs-assets")

    async def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{redirect}",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    async def swagger_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc_page(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    app.add_route(docs, swagger, include_in_schema=False)
    app.add_route(redirect, swagger_redirect, include_in_schema=False)
    app.add_route(redoc, redoc_page, include_in_schema=False)


def install_http_operations(app: FastAPI, service: str) -> None:
    """What ``libs.runtime.http.create_app`` adds last: offline docs, and the outermost middleware
    (traces, route-template metrics, 5xx counts)."""
    offline_docs(app)
    app.add_middleware(HttpOperations, service=service)
