"""aging scenarios on the simulator: input goes through ingest, output is every emitted event.

An unpaid invoice due on D must age exactly at the bucket edges (D+1, D+31,
D+61, D+91, D+181, D+361) at the debtor's local midnight, and nowhere else.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from libs.platform import simulator
from libs.platform.registry import load_spec
from libs.platform.simulator import run_simulation
from libs.runtime.settings import PlatformSettings

DUE = date(2026, 1, 20)
EDGES = [
    (1, "dpd_1_30"),
    (31, "dpd_31_60"),
    (61, "dpd_61_90"),
    (91, "dpd_91_180"),
    (181, "dpd_181_360"),
    (361, "dpd_361_plus"),
]


def issued(event_id: str, account_id: str, timezone: str, country: str, **extra: Any) -> dict[str, Any]:
    data = {
        "invoice_id": f"INV-{account_id}",
        "account_id": account_id,
        "customer": {
            "customer_id": f"C-{account_id}",
            "name": "Deudor de prueba",
            "kind": "person",
            "country": country,
            "timezone": timezone,
        },
        "amount": "250000.00",
        "currency": "COP",
        "issued_on": "2026-01-02",
        "due_on": DUE.isoformat(),
        "product_line": "cumplimiento",
        **extra,
    }
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/core/billing",
        "type": "cobranza.invoice.issued",
        "time": "2026-01-02T14:00:00Z",
        "subject": account_id,
        "datacontenttype": "application/json",
        "data": data,
    }


def midnight_utc(day: date, timezone: str) -> str:
    moment = datetime.combine(day, time.min, tzinfo=ZoneInfo(timezone)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def simulate(
    tmp_path: Path,
    pg_server: str,
    lines: list[dict[str, Any]],
    end: date,
    monkeypatch: pytest.MonkeyPatch,
    services: tuple[str, ...] = ("ingest", "aging"),
) -> list[dict[str, Any]]:
    """``cobranza simulate`` restricted to ``services`` so the scenario isolates what it checks."""
    monkeypatch.setattr(simulator, "available_specs", lambda: [load_spec(name) for name in services])
    events = tmp_path / "in.jsonl"
    events.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    run_simulation(events, date(2026, 1, 1), end, out, settings=PlatformSettings(database_url=pg_server))
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_unpaid_invoice_ages_exactly_at_bucket_edges_at_local_midnight(
    tmp_path: Path, pg_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    zones = {"A-BOG": ("America/Bogota", "CO"), "A-MAD": ("Europe/Madrid", "ES")}
    lines = [issued(f"e-{acc}", acc, tz, country) for acc, (tz, country) in zones.items()]
    out = simulate(tmp_path, pg_server, lines, date(2027, 1, 20), monkeypatch)

    for account, (timezone, _) in zones.items():
        aged = [e for e in out if e["type"] == "cobranza.account.aged" and e["data"]["account_id"] == account]
        expected = []
        previous = "current"
        for days, bucket in EDGES:
            expected.append((midnight_utc(DUE + timedelta(days=days), timezone), bucket, days, previous))
            previous = bucket
        got = [
            (e["time"], e["data"]["bucket"], e["data"]["days_past_due"], e["data"]["previous_bucket"])
            for e in aged
        ]
        assert got == expected, account
        assert all(e["data"]["overdue_amount"] == "250000.0000" for e in aged)
    # Madrid's D+91 (2026-04-21) is in summer time: midnight is 22:00 UTC the day before.
    assert midnight_utc(DUE + timedelta(days=91), "Europe/Madrid") == "2026-04-20T22:00:00Z"


@pytest.mark.slow
def test_policy_lapses_at_local_midnight_after_grace(
    tmp_path: Path, pg_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [issued("e-1", "A-VIDA", "America/Bogota", "CO", product_line="vida", policy_number="POL-77")]
    out = simulate(tmp_path, pg_server, lines, date(2026, 3, 1), monkeypatch)
    by_type = {e["type"]: e for e in out if e["type"].startswith("cobranza.policy.")}
    assert by_type["cobranza.policy.lapse_scheduled"]["data"]["lapse_on"] == "2026-02-19"
    assert by_type["cobranza.policy.lapse_scheduled"]["time"] == midnight_utc(
        date(2026, 1, 21), "America/Bogota"
    )
    assert by_type["cobranza.policy.lapsed"]["time"] == midnight_utc(date(2026, 2, 19), "America/Bogota")
    assert "cobranza.policy.lapse_cancelled" not in by_type


@pytest.mark.slow
def test_paid_invoice_returns_to_current_the_moment_reconciliation_applies_it(
    tmp_path: Path, pg_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoice = issued("e-1", "A-PAY", "America/Bogota", "CO")
    payment = {
        "specversion": "1.0",
        "id": "pay-1",
        "source": "/core/bank",
        "type": "cobranza.payment.received",
        "time": "2026-02-10T15:00:00Z",
        "subject": "A-PAY",
        "data": {
            "payment_id": "PAY-1",
            "account_id": "A-PAY",
            "amount": "250000.00",
            "currency": "COP",
            "received_on": "2026-02-10",
            "method": "pse",
            "reference": "INV-A-PAY",
        },
    }
    out = simulate(
        tmp_path,
        pg_server,
        [invoice, payment],
        date(2026, 4, 1),
        monkeypatch,
        ("ingest", "reconciliation", "aging"),
    )
    aged = [(e["time"], e["data"]["bucket"]) for e in out if e["type"] == "cobranza.account.aged"]
    assert aged == [("2026-01-21T05:00:00Z", "dpd_1_30"), ("2026-02-10T15:00:00Z", "current")]
