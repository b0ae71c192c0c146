"""The OTLP exporter (extra ``otlp``) chosen by the standard OpenTelemetry variables, and spans really
arriving at an OTLP/HTTP receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from libs.runtime.observability import configure_tracing, trace_exporter_from_env


@pytest.mark.parametrize(
    ("configured", "env", "chosen"),
    [
        ("none", {}, "none"),
        ("none", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "otlp"),
        ("none", {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, "otlp"),
        ("console", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "console"),
        ("otlp", {"OTEL_TRACES_EXPORTER": "none"}, "none"),
        ("none", {"OTEL_TRACES_EXPORTER": "otlp"}, "otlp"),
        ("none", {"OTEL_TRACES_EXPORTER": "Console"}, "console"),
    ],
)
def test_the_standard_variables_select_the_exporter(configured, env, chosen) -> None:
    assert trace_exporter_from_env(configured, env) == chosen


def test_an_unknown_exporter_is_refused() -> None:
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER"):
        trace_exporter_from_env("none", {"OTEL_TRACES_EXPORTER": "zipkin"})


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", _Receiver.received
    server.shutdown()
    server.server_close()


def test_spans_reach_an_otlp_http_receiver_named_by_the_endpoint_variable(receiver, monkeypatch) -> None:
    endpoint, received = receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)

    provider = configure_tracing("aging", install=False)
    processors = provider._active_span_processor._span_processors
    assert [type(p.span_exporter) for p in processors] == [OTLPSpanExporter]  # type: ignore[attr-defined]
    with provider.get_tracer("test").start_as_current_span("handle cobranza.invoice.issued"):
        pass
    assert provider.force_flush(10_000)
    provider.shutdown()

    assert [path for path, _ in received] == ["/v1/traces"]
    request = ExportTraceServiceRequest.FromString(received[0][1])
    (resource,) = request.resource_spans
    service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
    assert service == "cobranza-aging"
    assert [s.name for scope in resource.scope_spans for s in scope.spans] == [
        "handle cobranza.invoice.issued"
    ]
