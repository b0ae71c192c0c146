"""``cobranza demo load`` against ingest's API in-process: every line lands once, rejects are reported."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from libs.events.catalog import Topics
from libs.platform.demo.load import Loader, Reject, load_file
from libs.platform.demo.portfolio import DemoSpec
from libs.platform.demo.stream import generate
from tests.support.auth import api_client


@pytest.fixture
def platform(make_platform):  # type: ignore[no-untyped-def]
    return make_platform(["ingest"])


@pytest.fixture
def client(platform) -> TestClient:  # type: ignore[no-untyped-def]
    return api_client(platform.context("ingest"))


@pytest.fixture
def portfolio(tmp_path: Path) -> Path:
    out = io.StringIO()
    generate(DemoSpec(accounts=40, months=3, seed=21), out)
    path = tmp_path / "portfolio.jsonl"
    path.write_text(out.getvalue())
    return path


def outbox_types(platform) -> Counter[str]:  # type: ignore[no-untyped-def]
    ctx = platform.context("ingest")
    table = ctx.spec.tables.outbox
    with ctx.sessions() as session:
        return Counter(json.loads(v)["type"] for v in session.execute(select(table.c.value)).scalars())


def file_types(path: Path) -> Counter[str]:
    return Counter(json.loads(line)["type"] for line in path.read_text().splitlines())


def test_load_sends_every_event_once_and_counts_match(platform, client: TestClient, portfolio: Path) -> None:  # type: ignore[no-untyped-def]
    rejects: list[Reject] = []
    loader = Loader(client, batch=25, workers=1, publisher=platform.broker, on_reject=rejects.append)
    summary = load_file(portfolio, loader)

    expected = file_types(portfolio)
    assert rejects == []
    assert {t: c.accepted for t, c in summary.by_type.items()} == dict(expected)
    assert summary.totals.duplicate == 0 and summary.lines == sum(expected.values())
    # What ingest published: everything the REST API took, straight from its outbox ...
    emitted = outbox_types(platform)
    for event_type, count in expected.items():
        if event_type != "cobranza.promise.made":
            assert emitted[event_type] == count, event_type
    # ... and the promises, which have no endpoint, went to the inbound topic and through ingest.
    assert len(platform.broker.read(Topics.INBOUND, 0)) == expected["cobranza.promise.made"] > 0
    platform.run_until_quiet()
    forwarded = [json.loads(r.value) for r in platform.broker.read(Topics.PROMISES, 0)]
    assert Counter(e["type"] for e in forwarded)["cobranza.promise.made"] == expected["cobranza.promise.made"]


def test_loading_twice_reports_duplicates(platform, client: TestClient, portfolio: Path) -> None:  # type: ignore[no-untyped-def]
    load_file(portfolio, Loader(client, batch=100, workers=1, publisher=platform.broker))
    again = load_file(portfolio, Loader(client, batch=100, workers=1, publisher=platform.broker))
    expected = file_types(portfolio)
    for event_type in ("cobranza.invoice.issued", "cobranza.payment.received"):
        assert again.by_type[event_type].duplicate == expected[event_type]
        assert again.by_type[event_type].accepted == 0
    assert again.totals.rejected == 0


def test_rejects_are_reported_with_line_and_reason(platform, client: TestClient, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    payment: dict[str, Any] = {
        "payment_id": "P-1",
        "account_id": "ACC-1",
        "amount": "1000.00",
        "currency": "COP",
        "received_on": "2026-01-05",
        "method": "pse",
    }
    good: dict[str, Any] = {
        "specversion": "1.0",
        "id": "e1",
        "source": "/sources/banco",
        "type": "cobranza.payment.received",
        "time": "2026-01-05T15:00:00Z",
        "subject": "ACC-1",
        "data": payment,
    }
    bad_amount = {**good, "id": "e2", "data": {**payment, "payment_id": "P-2", "amount": "-5"}}
    unknown_invoice = {
        **good,
        "id": "e3",
        "type": "cobranza.invoice.cancelled",
        "data": {
            "invoice_id": "NOPE",
            "reason": "issued_in_error",
            "cancelled_on": "2026-01-06",
        },  # no account: ingest must know the invoice
    }
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        "\n".join([json.dumps(good), "not json", json.dumps(bad_amount), json.dumps(unknown_invoice)]) + "\n"
    )
    rejects: list[Reject] = []
    summary = load_file(path, Loader(client, batch=10, workers=1, on_reject=rejects.append))
    assert summary.totals.accepted == 1 and summary.totals.rejected == 3
    by_line = {r.line: r for r in rejects}
    assert set(by_line) == {2, 3, 4}
    assert by_line[3].item_id == "P-2" and "amount" in by_line[3].reason
    assert by_line[4].event_type == "cobranza.invoice.cancelled" and "404" in by_line[4].reason


def test_server_errors_are_retried_with_the_same_idempotency_key(tmp_path: Path, portfolio: Path) -> None:
    seen: list[tuple[str, str]] = []
    failures = {"left": 2}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers["Idempotency-Key"]))
        if request.url.path == "/v1/invoices:bulk" and failures["left"]:
            failures["left"] -= 1
            return httpx.Response(503, text="busy")
        if request.url.path.endswith(":bulk"):
            items: list[dict[str, Any]] = json.loads(request.content)["items"]
            results = [{"index": i, "status": "accepted", "id": None} for i in range(len(items))]
            return httpx.Response(
                200, json={"accepted": len(items), "duplicate": 0, "rejected": 0, "items": results}
            )
        return httpx.Response(202, json={"status": "accepted"})

    client = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://ingest")
    loader = Loader(client, batch=1000, workers=2, publisher=None, max_wait_s=0.01)
    summary = load_file(portfolio, loader)
    invoice_keys = [key for path, key in seen if path == "/v1/invoices:bulk"]
    # one bulk request per source system (core_polizas, core_creditos); the first failed twice and was
    # retried under its own key, so ingest replays rather than double-counts
    assert sorted(Counter(invoice_keys).values()) == [1, 3]
    assert (
        summary.by_type["cobranza.invoice.issued"].accepted
        == file_types(portfolio)["cobranza.invoice.issued"]
    )
    # no Kafka configured: the promises are rejects with a reason, never dropped
    assert summary.by_type["cobranza.promise.made"].rejected == file_types(portfolio)["cobranza.promise.made"]
    assert all("KAFKA_BOOTSTRAP_SERVERS" in r.reason for r in summary.rejects)


def test_an_unreadable_bulk_answer_rejects_its_items_with_the_answer(portfolio: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/payments:bulk":
            return httpx.Response(200, text="<html>proxy error</html>")
        if request.url.path.endswith(":bulk"):
            items = json.loads(request.content)["items"]
            return httpx.Response(
                200, json={"items": [{"index": i, "status": "accepted"} for i in range(len(items))]}
            )
        return httpx.Response(200, json={})

    client = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://ingest")
    summary = load_file(portfolio, Loader(client, batch=1000, workers=1, publisher=None))
    payments = summary.by_type["cobranza.payment.received"]
    assert payments.accepted == 0 and payments.rejected == file_types(portfolio)["cobranza.payment.received"]
    assert any(
        "proxy error" in r.reason for r in summary.rejects if r.event_type == "cobranza.payment.received"
    )


def test_cli_prints_the_summary_and_fails_on_rejects(
    portfolio: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functools import partial

    from typer.testing import CliRunner

    from libs.platform.cli import app

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != "Bearer cbz_demo_key":
            return httpx.Response(401, json={"detail": "a credential is required"})
        if request.url.path.endswith(":bulk"):
            items = json.loads(request.content)["items"]
            return httpx.Response(
                200, json={"items": [{"index": i, "status": "duplicate"} for i in range(len(items))]}
            )
        return httpx.Response(202, json={"status": "accepted"})

    monkeypatch.setattr(httpx, "Client", partial(httpx.Client, transport=httpx.MockTransport(handler)))
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("COBRANZA_API_KEY", "cbz_demo_key")  # the key a loader sends as Bearer
    result = CliRunner().invoke(app, ["demo", "load", str(portfolio), "--url", "http://ingest"])
    expected = file_types(portfolio)
    invoices = expected["cobranza.invoice.issued"]
    assert f"cobranza.invoice.issued          accepted         0  duplicate {invoices:>9}" in result.output
    assert "KAFKA_BOOTSTRAP_SERVERS" in result.output  # the promises' rejects, printed with their reason
    assert result.exit_code == 1
