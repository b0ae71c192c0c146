"""ingest -> reconciliation -> aging -> reporting on the in-memory platform: balances agree to the cent.

A small portfolio with partial, over, unidentified (matched later by hand),
reversed and two-currency payments, aged past its due dates. For every
(account, currency) reporting's balance is reconciliation's open - credit, and
the portfolio by bucket x ramo x asesor x oficina x agencia adds up to the
same money, grouped by the buckets aging holds.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from tests.support.auth import api_client

_ids = itertools.count(1)
TENANT = "aseguradora_x"

# account -> (ramo, asesor, oficina, agencia)
DIMS = {
    "A1": ("auto", "ADV1", "BOG", "AG1"),
    "A2": ("vida", "ADV2", "MED", "AG2"),
    "A3": ("hogar", "ADV1", "BOG", "AG1"),
    "A4": ("auto", "ADV2", "MED", "AG2"),
}


def invoice(
    invoice_id: str, account: str, amount: str, due_on: str, currency: str = "COP"
) -> tuple[str, dict]:
    line, advisor, office, agency = DIMS[account]
    return "cobranza.invoice.issued", {
        "invoice_id": invoice_id,
        "account_id": account,
        "customer": {
            "customer_id": f"C-{account}",
            "name": f"Cliente {account}",
            "kind": "person",
            "country": "CO",
            "timezone": "America/Bogota",
        },
        "amount": amount,
        "currency": currency,
        "issued_on": "2026-01-02",
        "due_on": due_on,
        "product_line": line,
        "advisor_id": advisor,
        "office_id": office,
        "agency_id": agency,
    }


def payment(
    payment_id: str, amount: str, account: str | None, currency: str = "COP", method: str = "transferencia"
) -> tuple[str, dict]:
    data: dict[str, Any] = {
        "payment_id": payment_id,
        "amount": amount,
        "currency": currency,
        "received_on": "2026-01-10",
        "method": method,
    }
    if account is not None:
        data["account_id"] = account
    return "cobranza.payment.received", data


def feed(platform: Any, *events: tuple[str, dict]) -> None:
    for event_type, data in events:
        platform.publish(
            Envelope(
                id=f"core-{next(_ids)}",
                source="/core/billing",
                type=event_type,
                time=platform.clock.now(),
                subject=data.get("account_id"),
                data=data,
                tenantid=TENANT,
            ),
            Topics.INBOUND,
        )
    platform.run_until_quiet()


def client(platform: Any, service: str) -> TestClient:
    return api_client(platform.context(service), tenant=TENANT)


def cents(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def test_portfolio_by_bucket_and_dimensions_agrees_with_reconciliation(make_platform) -> None:
    platform = make_platform(["ingest", "reconciliation", "aging", "reporting"])
    feed(
        platform,
        invoice("F-1", "A1", "1000.00", "2026-01-05"),
        invoice("F-2", "A1", "500.00", "2026-02-05"),
        invoice("F-3", "A2", "2000.00", "2026-01-05"),
        invoice("F-4", "A2", "300.00", "2026-01-05", currency="USD"),
        invoice("F-5", "A3", "800.00", "2026-01-05"),
        invoice("F-6", "A4", "120.25", "2026-01-05"),
    )
    feed(
        platform,
        payment("P-1", "400.00", "A1"),  # partial
        payment("P-2", "2500.00", "A2"),  # over: 500 credit
        payment("P-3", "100.00", "A2", currency="USD", method="tarjeta"),  # partial, other currency
        payment("P-4", "800.00", None, method="nequi"),  # nobody knows whose: suspense
        payment("P-5", "120.25", "A4", method="cheque"),  # paid in full, then the cheque bounces
    )
    feed(
        platform,
        (
            "cobranza.payment.reversed",
            {
                "payment_id": "P-5",
                "account_id": "A4",
                "reversed_on": "2026-01-12",
                "reason": "bounced_cheque",
            },
        ),
    )
    # A2's COP credit (500) pays a new invoice; the invoice then grows and the rest of the credit goes
    # too. Reconciliation's allocations reach reporting before the invoice events that caused them.
    feed(platform, invoice("F-7", "A2", "400.00", "2026-03-05"))
    adjust = {
        "adjustment_id": "ADJ-1",
        "account_id": "A2",
        "currency": "COP",
        "reason": "endorsement",
        "effective_on": "2026-01-11",
    }
    feed(platform, ("cobranza.invoice.adjusted", dict(adjust, invoice_id="F-7", new_amount="650.00")))
    feed(
        platform,
        (
            "cobranza.invoice.adjusted",
            dict(adjust, adjustment_id="ADJ-2", account_id="A1", invoice_id="F-2", new_amount="450.00"),
        ),
    )
    recon = client(platform, "reconciliation")
    reporting = client(platform, "reporting")
    suspense = reporting.get("/v1/suspense").json()
    assert [(s["currency"], s["payments"], cents(s["amount"])) for s in suspense] == [
        ("COP", 1, cents("800"))
    ]

    applied = recon.post(
        "/v1/suspense/P-4/apply",
        json={"account_id": "A3", "invoice_id": "F-5", "reason": "payer called in", "user": "ana"},
    )
    assert applied.status_code == 200, applied.text
    platform.run_until_quiet()
    platform.advance_to(
        datetime(2026, 2, 20, 12, tzinfo=UTC)
    )  # aging's midnights: F-1, F-3, F-4, F-2 overdue

    assert reporting.get("/v1/suspense").json() == []
    assert recon.get("/v1/suspense").json() == []

    aging = client(platform, "aging")
    expected_groups: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
    for account in DIMS:
        statement = recon.get(f"/v1/accounts/{account}/statement")
        assert statement.status_code == 200, statement.text
        truth = {b["currency"]: b for b in statement.json()["balances"]}
        mine = {
            b["currency"]: b for b in reporting.get(f"/v1/accounts/{account}/balances").json()["balances"]
        }
        buckets = {s["currency"]: s["bucket"] for s in aging.get(f"/v1/accounts/{account}").json()["states"]}
        assert set(mine) == set(truth), account
        for currency, row in truth.items():
            assert cents(mine[currency]["open_amount"]) == cents(row["open_amount"]), (account, currency)
            assert cents(mine[currency]["credit_balance"]) == cents(row["credit_balance"]), (
                account,
                currency,
            )
            assert cents(mine[currency]["balance"]) == cents(row["balance"]), (account, currency)
            assert mine[currency]["bucket"] == buckets[currency], (account, currency)
            expected_groups[(mine[currency]["bucket"], *DIMS[account], currency)] += cents(row["balance"])

    body = reporting.get(
        "/v1/portfolio", params={"group_by": "bucket,product_line,advisor_id,office_id,agency_id"}
    ).json()
    got = {
        (
            r["bucket"],
            r["product_line"],
            r["advisor_id"],
            r["office_id"],
            r["agency_id"],
            r["currency"],
        ): cents(r["balance"])
        for r in body["rows"]
    }
    assert got == dict(expected_groups)
    # the money, by hand: A1 1000+450-400; A2 COP 2000+650-2500, USD 300-100; A3 800-800; A4 reopened
    assert got == {
        ("dpd_31_60", "auto", "ADV1", "BOG", "AG1", "COP"): cents("1050"),
        ("dpd_31_60", "vida", "ADV2", "MED", "AG2", "USD"): cents("200"),
        ("current", "vida", "ADV2", "MED", "AG2", "COP"): cents("150"),  # never announced by aging
        ("current", "hogar", "ADV1", "BOG", "AG1", "COP"): cents("0"),
        ("dpd_31_60", "auto", "ADV2", "MED", "AG2", "COP"): cents("120.25"),
    }
    assert platform.broker.topics[Topics.DEAD_LETTER] == []  # no money dead-lettered anywhere
