"""``cobranza demo generate``: deterministic, contract-valid, time-ordered, and shaped like a real portfolio."""

from __future__ import annotations

import io
import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from typer.testing import CliRunner

from libs.events.registry import decode
from libs.platform.demo import stream
from libs.platform.demo.people import nit_check_digit
from libs.platform.demo.portfolio import DemoSpec
from libs.platform.demo.stream import generate
from libs.platform.simulator import read_events


def render(spec: DemoSpec, **options: Any) -> str:
    out = io.StringIO()
    generate(spec, out, **options)
    return out.getvalue()


@pytest.fixture(scope="module")
def year() -> list[dict[str, Any]]:
    """1,500 accounts over 14 months (so December's invoices have time to be paid)."""
    text = render(DemoSpec(accounts=1500, months=14, seed=11))
    return [json.loads(line) for line in text.splitlines()]


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == f"cobranza.{kind}"]


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    spec = DemoSpec(accounts=120, months=4, seed=5)
    first = render(spec)
    assert first == render(spec)
    assert first != render(DemoSpec(accounts=120, months=4, seed=6))
    assert render(DemoSpec(accounts=120, months=4, seed=5, tenant="acme")) != first


def test_spilled_and_merged_runs_give_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = DemoSpec(accounts=80, months=6, seed=9)
    in_memory = render(spec)
    monkeypatch.setattr(stream, "MAX_OPEN_RUNS", 3)  # forces merges of runs while generating
    out = io.StringIO()
    stats = generate(spec, out, buffer_lines=200, tmp_dir=tmp_path)
    assert stats.runs > 3
    assert out.getvalue() == in_memory
    assert list(tmp_path.iterdir()) == []  # the runs are cleaned up


def test_accounts_count_is_exact_and_customers_hold_one_to_three() -> None:
    events = [json.loads(line) for line in render(DemoSpec(accounts=257, months=2, seed=3)).splitlines()]
    accounts = {a for e in of_type(events, "customer.upserted") for a in e["data"]["account_ids"]}
    assert len(accounts) == 257
    sizes = Counter(len(e["data"]["account_ids"]) for e in of_type(events, "customer.upserted"))
    assert set(sizes) <= {1, 2, 3} and sizes[1] > sizes[2] > 0


def test_every_line_is_a_valid_contract_event_in_time_order(year: list[dict[str, Any]]) -> None:
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 3, 1, tzinfo=UTC)
    previous = start
    ids: set[tuple[str, str]] = set()
    for raw in year:
        event = decode(json.dumps(raw))
        assert start <= event.envelope.time < end
        assert event.envelope.time >= previous
        previous = event.envelope.time
        assert event.payload.subject() == event.envelope.subject
        key = (event.envelope.source, event.envelope.id)
        assert key not in ids, f"duplicate event id {key}"
        ids.add(key)


def test_a_period_starting_mid_month_keeps_every_invoice_after_its_customer() -> None:
    spec = DemoSpec(accounts=300, months=3, seed=13, start=date(2026, 1, 20))
    events = [json.loads(line) for line in render(spec).splitlines()]
    known: set[str] = set()
    for e in events:
        assert "2026-01-20T00:00:00Z" <= e["time"] < "2026-04-20T00:00:00Z"
        if e["type"] == "cobranza.customer.upserted":
            known.update(e["data"]["account_ids"])
        elif e["type"] in ("cobranza.invoice.issued", "cobranza.promise.made"):
            assert e["data"]["account_id"] in known
    assert len(known) == 300


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="tenant"):
        DemoSpec(accounts=1, months=1, seed=1, tenant="no spaces")
    with pytest.raises(ValueError, match="accounts"):
        DemoSpec(accounts=0, months=1, seed=1)


def test_the_simulator_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "portfolio.jsonl"
    path.write_text(render(DemoSpec(accounts=40, months=3, seed=2)))
    events = read_events(path)
    assert len(events) == len(path.read_text().splitlines())


def test_every_invoice_names_a_customer_and_reference_data_published_before_it(
    year: list[dict[str, Any]],
) -> None:
    customer_of: dict[str, str] = {}
    reference: set[tuple[str, str]] = set()
    lines: set[str] = set()
    for e in year:
        if e["type"] == "cobranza.reference.upserted":
            reference.add((e["data"]["entity_type"], e["data"]["entity_id"]))
        elif e["type"] == "cobranza.customer.upserted":
            for account in e["data"]["account_ids"]:
                customer_of[account] = e["data"]["customer_id"]
        elif e["type"] == "cobranza.invoice.issued":
            data = e["data"]
            assert customer_of.get(data["account_id"]) == data["customer"]["customer_id"], data["invoice_id"]
            assert ("product_line", data["product_line"]) in reference
            assert ("advisor", data["advisor_id"]) in reference
            assert ("office", data["office_id"]) in reference
            if "agency_id" in data:
                assert ("agency", data["agency_id"]) in reference
            lines.add(data["product_line"])
    assert lines == {"auto", "vida", "hogar", "salud", "soat", "consumo"}


def test_reference_parents_come_before_children(year: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for e in of_type(year, "reference.upserted"):
        data = e["data"]
        for parent in ("parent_id", "office_id", "agency_id"):
            if parent in data:
                assert data[parent] in seen, f"{data['entity_id']} before its {parent}"
        seen.add(data["entity_id"])


def _payments_by_invoice(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Payment ids are PAY-<account>-<instalment>[suffix]: the invoice FAC-<account>-<instalment>."""
    paid: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in of_type(events, "payment.received"):
        pid = e["data"]["payment_id"]
        if "-P" in pid:  # a prima catch-up payment covers several invoices
            continue
        paid["FAC-" + pid.removeprefix("PAY-")[:12]].append(e["data"])
    return paid


def _late_share(events: list[dict[str, Any]], month: int, year_: int) -> float:
    paid = _payments_by_invoice(events)
    late = total = 0
    for e in of_type(events, "invoice.issued"):
        due = date.fromisoformat(e["data"]["due_on"])
        if (due.year, due.month) != (year_, month) or due < date(2026, 1, 1):
            continue
        total += 1
        payments = paid.get(e["data"]["invoice_id"], [])
        if not payments or any(date.fromisoformat(p["received_on"]) > due for p in payments):
            late += 1
    assert total > 500
    return late / total


def test_late_payers_share_and_seasonality(year: list[dict[str, Any]]) -> None:
    shares = {m: _late_share(year, m, 2026) for m in (1, 4, 10, 12)}
    # On time ~58 %, late ~22 %, chronic ~12 %, defaulting ~8 % of customers: about a third of the
    # instalments is paid late (or not at all) in an ordinary month.
    assert 0.22 <= shares[4] <= 0.45, shares
    assert 0.22 <= shares[10] <= 0.45, shares
    # January is the hardest month; December comes with the prima de servicios.
    assert shares[1] > shares[4] + 0.05, shares
    assert shares[12] < shares[10] - 0.04, shares


def test_partial_over_unidentified_and_unknown_account_payments(year: list[dict[str, Any]]) -> None:
    payments = [e["data"] for e in of_type(year, "payment.received")]
    accounts = {a for e in of_type(year, "customer.upserted") for a in e["data"]["account_ids"]}
    unidentified = [p for p in payments if "account_id" not in p]
    unknown = [p for p in payments if "account_id" in p and p["account_id"] not in accounts]
    assert 0.004 <= len(unidentified) / len(payments) <= 0.03
    assert 0 < len(unknown) / len(payments) <= 0.01
    assert all(p.get("reference") for p in unidentified)
    amounts = {e["data"]["invoice_id"]: Decimal(e["data"]["amount"]) for e in of_type(year, "invoice.issued")}
    adjusted = {
        e["data"]["invoice_id"]: Decimal(e["data"]["new_amount"]) for e in of_type(year, "invoice.adjusted")
    }
    amounts.update(adjusted)
    over = partial = 0
    for invoice, paid in _payments_by_invoice(year).items():
        total = sum(Decimal(p["amount"]) for p in paid)
        if total > amounts[invoice]:
            over += 1
        if any(p["payment_id"].endswith("A") for p in paid):
            partial += 1
    assert over > 50 and partial > 50
    assert any(
        e["data"]["payment_id"].count("-P") for e in of_type(year, "payment.received")
    )  # prima catch-up
    methods = Counter(p["method"] for p in payments)
    assert {"pse", "bank_transfer", "direct_debit", "card", "cash", "wallet", "cheque"} <= set(methods)
    reasons = Counter(e["data"]["reason"] for e in of_type(year, "payment.reversed"))
    assert reasons["bounced_cheque"] > 0


def test_promises_kept_and_broken(year: list[dict[str, Any]]) -> None:
    paid: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    for e in of_type(year, "payment.received"):
        if "account_id" in e["data"]:
            paid[e["data"]["account_id"]].append(
                (date.fromisoformat(e["data"]["received_on"]), Decimal(e["data"]["amount"]))
            )
    kept = broken = 0
    for e in of_type(year, "promise.made"):
        data = e["data"]
        made, due = e["time"][:10], date.fromisoformat(data["due_on"])
        if due >= date(2027, 2, 15):
            continue
        covered = sum(a for d, a in paid[data["account_id"]] if date.fromisoformat(made) <= d <= due)
        if covered >= Decimal(data["amount"]):
            kept += 1
        else:
            broken += 1
    assert kept > 30 and broken > 30
    assert 0.25 <= kept / (kept + broken) <= 0.8


def test_cancelled_policies_stop_billing(year: list[dict[str, Any]]) -> None:
    cancelled = of_type(year, "invoice.cancelled")
    assert cancelled and all(e["data"]["reason"] == "policy_cancelled" for e in cancelled)
    last_issue: dict[str, str] = {}
    for e in of_type(year, "invoice.issued"):
        last_issue[e["data"]["account_id"]] = e["data"]["issued_on"]
    for e in cancelled:
        assert last_issue[e["data"]["account_id"]] < e["data"]["cancelled_on"]


def test_debtors_look_real(year: list[dict[str, Any]]) -> None:
    customers = {e["data"]["customer_id"]: e["data"] for e in of_type(year, "customer.upserted")}
    countries = Counter(c["country"] for c in customers.values())
    abroad = 1 - countries["CO"] / len(customers)
    assert 0.04 <= abroad <= 0.13 and countries["US"] > 0
    for customer in customers.values():
        number = phonenumbers.parse(customer["phone"])
        assert phonenumbers.is_valid_number(number), customer["phone"]
        assert customer["phone"] == phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        assert customer["region"]
        channels = {p["channel"] for p in customer["contact_points"]}
        assert {"sms", "whatsapp", "voice", "letter"} <= channels
        if customer["kind"] == "company":
            digits, check = customer["document_id"].removeprefix("NIT-").split("-")
            assert nit_check_digit(digits) == int(check)
        else:
            assert customer["document_id"].split("-")[0] in {"CC", "PA"}
    consents = [p["consent"] for c in customers.values() for p in c["contact_points"]]
    assert 0.55 < sum(consents) / len(consents) < 0.9
    names = Counter(c["name"].split()[-1] for c in customers.values())
    assert len(names) > 30
    usd = {e["data"]["currency"] for e in of_type(year, "invoice.issued")}
    assert usd == {"COP", "USD"}


def test_cli_writes_the_file_and_reports_to_stderr(tmp_path: Path) -> None:
    from libs.platform.cli import app

    out = tmp_path / "p.jsonl"
    result = CliRunner().invoke(
        app, ["demo", "generate", "--accounts", "30", "--months", "2", "--seed", "4", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text() == render(DemoSpec(accounts=30, months=2, seed=4))
    bad = CliRunner().invoke(app, ["demo", "generate", "--accounts", "3", "--start", "2026-13-01"])
    assert bad.exit_code == 2
