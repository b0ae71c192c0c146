"""Metrics, traces and JSON logs shared by every service (bounded label cardinality)."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

from prometheus_client import Counter, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter

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


def configure_tracing(service: str, exporter: str = "none") -> None:
    """Install an SDK tracer provider; spans cross Kafka through the envelope's traceparent."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": f"cobranza-{service}"}))
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore[import-not-found]

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
