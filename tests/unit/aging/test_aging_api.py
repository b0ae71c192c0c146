"""aging's read API: account state with invoice DPD, transitions by local date, the bucket scheme."""

from __future__ import annotations

from aging_helpers import at, invoice, payment_applied, send

from libs.events.catalog import Topics
from tests.support.auth import api_client


def test_account_transitions_and_buckets(make_platform) -> None:
    platform = make_platform(["aging"])
    send(
        platform,
        "cobranza.invoice.issued",
        invoice(product_line="vida", policy_number="POL-1"),
        Topics.INVOICES,
    )
    send(platform, "cobranza.invoice.issued", invoice("I2", due_on="2026-03-20"), Topics.INVOICES)
    platform.advance_to(at("2026-02-10T12:00:00+00:00"))
    send(platform, "cobranza.payment.applied", payment_applied("A1", ("I1", "25000.00")), Topics.ALLOCATIONS)
    client = api_client(platform.context("aging"))

    body = client.get("/v1/accounts/A1").json()
    assert body["as_of"] == "2026-02-10"
    assert body["states"] == [
        {
            "currency": "COP",
            "bucket": "dpd_1_30",
            "stage": "early",
            "days_past_due": 21,
            "overdue_amount": "25000.0000",
            "bucket_since": "2026-01-21",
            "timezone": "America/Bogota",
        }
    ]
    first, second = body["invoices"]
    assert (first["invoice_id"], first["days_past_due"], first["in_grace"], first["lapse_on"]) == (
        "I1",
        21,
        True,
        "2026-02-19",
    )
    assert first["lapse_state"] == "scheduled"
    assert (second["invoice_id"], second["days_past_due"], second["in_grace"]) == ("I2", 0, False)
    assert client.get("/v1/accounts/NOPE").status_code == 404

    moves = client.get("/v1/transitions", params={"from": "2026-01-21", "to": "2026-01-21"}).json()
    assert [(m["account_id"], m["from_bucket"], m["to_bucket"]) for m in moves] == [
        ("A1", "current", "dpd_1_30")
    ]
    assert client.get("/v1/transitions", params={"from": "2026-01-22", "to": "2026-02-28"}).json() == []
    bad = client.get("/v1/transitions", params={"from": "2026-02-01", "to": "2026-01-01"})
    assert bad.status_code == 422
    missing = client.get("/v1/transitions", params={"to": "2026-01-01"})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["query", "from"]

    scheme = client.get("/v1/buckets").json()
    assert [b["name"] for b in scheme["buckets"]] == [
        "current",
        "dpd_1_30",
        "dpd_31_60",
        "dpd_61_90",
        "dpd_91_180",
        "dpd_181_360",
        "dpd_361_plus",
    ]
    assert scheme["buckets"][-1] == {
        "name": "dpd_361_plus",
        "min_dpd": 361,
        "max_dpd": None,
        "stage": "residual",
    }
    assert scheme["grace_days"]["vida"] == 30


def test_every_route_answers_for_the_requests_tenant(make_platform) -> None:
    platform = make_platform(["aging"])
    send(platform, "cobranza.invoice.issued", invoice(), Topics.INVOICES, tenant="aseguradora")
    send(platform, "cobranza.invoice.issued", invoice(amount="5.00"), Topics.INVOICES, tenant="financiera")
    platform.advance_to(at("2026-01-22T00:00:00+00:00"))
    client = api_client(platform.context("aging"))

    def get(path: str, tenant: str, **params: str):  # type: ignore[no-untyped-def]
        return client.get(path, params=params, headers={"X-Cobranza-Tenant": tenant})

    mine = get("/v1/accounts/A1", "aseguradora").json()
    theirs = get("/v1/accounts/A1", "financiera").json()
    assert [i["amount"] for i in mine["invoices"]] == ["100000.0000"]
    assert [i["amount"] for i in theirs["invoices"]] == ["5.0000"]
    assert client.get("/v1/accounts/A1").status_code == 404  # the default tenant has no such account
    moves = get("/v1/transitions", "financiera", **{"from": "2026-01-01", "to": "2026-01-31"}).json()
    assert [(m["account_id"], m["overdue_amount"]) for m in moves] == [("A1", "5.0000")]
    assert get("/v1/buckets", "financiera").json()["tenant"] == "financiera"


def test_control_characters_in_the_path_are_a_422_not_a_500(make_platform) -> None:
    client = api_client(make_platform(["aging"]).context("aging"))
    response = client.get("/v1/accounts/A%001")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "account_id"]
