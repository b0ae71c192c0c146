"""Every service's HTTP surface: metrics by route template, 5xx counted, a server span per request,
and ``/docs`` / ``/redoc`` that load nothing from outside the service."""

from __future__ import annotations

import re

from fastapi.responses import JSONResponse
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY

from libs.runtime.http import create_app
from libs.runtime.observability import DOCS_ASSETS
from tests.support.auth import api_client

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_requests_are_labelled_by_route_template(make_platform) -> None:
    ctx = make_platform(["aging"]).context("aging")
    labels = {"service": "aging", "route": "/v1/accounts/{account_id}", "method": "GET", "status": "404"}
    before = sample("cobranza_http_requests_total", **labels)
    client = api_client(ctx)

    assert client.get("/v1/accounts/A1").status_code == 404  # an unknown account: the route matched
    assert client.get("/v1/accounts/A2").status_code == 404

    assert sample("cobranza_http_requests_total", **labels) == before + 2
    assert (
        sample(
            "cobranza_http_request_seconds_count", **{k: labels[k] for k in ("service", "route", "method")}
        )
        >= 2
    )
    unmatched = {"service": "aging", "route": "unmatched", "method": "GET", "status": "404"}
    was = sample("cobranza_http_requests_total", **unmatched)
    assert client.get("/no/such/path").status_code == 404
    assert sample("cobranza_http_requests_total", **unmatched) == was + 1


def test_server_errors_are_counted_once_each_even_unhandled(make_platform) -> None:
    ctx = make_platform(["aging"]).context("aging")
    app = create_app(ctx)

    @app.get("/v1/ops-test/boom/{n}")
    def boom(n: int) -> None:
        raise RuntimeError(f"boom {n}")

    @app.get("/v1/ops-test/unavailable")
    def unavailable() -> JSONResponse:
        return JSONResponse({"detail": "later"}, status_code=503)

    client = api_client(ctx, app=app, raise_server_exceptions=False)
    errors = {"service": "aging", "route": "/v1/ops-test/boom/{n}", "status_class": "5xx"}
    requests = {"service": "aging", "route": "/v1/ops-test/boom/{n}", "method": "GET", "status": "500"}
    e0, r0 = (
        sample("cobranza_http_errors_total", **errors),
        sample("cobranza_http_requests_total", **requests),
    )

    assert client.get("/v1/ops-test/boom/1").status_code == 500
    assert client.get("/v1/ops-test/boom/2").status_code == 500
    assert client.get("/v1/ops-test/unavailable").status_code == 503
    assert client.get("/v1/accounts/A1").status_code == 404

    assert sample("cobranza_http_errors_total", **errors) == e0 + 2
    assert sample("cobranza_http_requests_total", **requests) == r0 + 2
    assert (
        sample(
            "cobranza_http_errors_total",
            service="aging",
            route="/v1/ops-test/unavailable",
            status_class="5xx",
        )
        >= 1
    )
    assert (
        sample(
            "cobranza_http_errors_total",
            service="aging",
            route="/v1/accounts/{account_id}",
            status_class="4xx",
        )
        == 0
    )


def test_a_request_continues_the_callers_trace(make_platform, spans) -> None:
    client = api_client(make_platform(["aging"]).context("aging"))

    assert client.get("/v1/accounts/A1", headers={"traceparent": TRACEPARENT}).status_code == 404

    server = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert [s.name for s in server] == ["GET /v1/accounts/{account_id}"]
    assert format(server[0].context.trace_id, "032x") == TRACE_ID
    assert server[0].attributes["http.route"] == "/v1/accounts/{account_id}"
    assert server[0].attributes["http.response.status_code"] == 404
    endpoint = [s for s in spans.get_finished_spans() if s.name == "fastapi.endpoint"]
    assert endpoint and all(s.parent.span_id == server[0].context.span_id for s in endpoint)


ASSET = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|\burl:\s*["']([^"']+)["']""")


def test_docs_pages_load_only_the_services_own_assets(make_platform) -> None:
    ctx = make_platform(["aging"]).context("aging")
    client = api_client(ctx)
    anonymous = api_client(ctx)
    anonymous.headers.pop("Authorization")

    for page in ("/docs", "/redoc"):
        response = anonymous.get(page)
        assert response.status_code == 200, page
        html = response.text
        assert "cdn." not in html and "fonts.googleapis" not in html, page
        assert not re.search(r"https?://", html), f"{page} names an absolute URL"
        assets = {next(g for g in m.groups() if g) for m in ASSET.finditer(html)}
        assert any(a.startswith(DOCS_ASSETS) for a in assets), assets
        for asset in assets:
            assert asset.startswith("/"), asset
            served = client.get(asset)
            assert served.status_code == 200, asset
            assert served.content, asset
    assert (
        client.get(f"{DOCS_ASSETS}/swagger-ui-bundle.js")
        .headers["content-type"]
        .startswith(("application/javascript", "text/javascript"))
    )
    assert "openapi" in client.get("/openapi.json").json()
