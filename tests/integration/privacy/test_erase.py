"""``cobranza privacy erase``: the customer's name, e-mail and phone are nowhere afterwards.

The proof scans EVERY text, varchar, json, jsonb and bytea column of EVERY table of EVERY schema
of the database (found through information_schema, not a hand-kept list) and every file under the
notifier's output directory (letters, e-mails, message logs). A positive control runs the same
scan before the erasure and finds the data, so a scan that cannot see would fail the test.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.platform.privacy import erase_customer
from libs.platform.registry import load_spec
from libs.runtime.db import sqlalchemy_url

SERVICES = ["ingest", "aging", "reconciliation", "segmentation", "strategy", "notifier", "reporting"]
T0 = datetime(2026, 1, 5, 15, tzinfo=UTC)

ERASED = {
    "name": "Zenaida Quirogabarra",
    "email": "zenaida.quirogabarra@example.org",
    "phone": "+573157778899",
}
KEPT = {
    "name": "Bartolo Esquivelmonte",
    "email": "bartolo.esquivelmonte@example.org",
    "phone": "+573001112233",
}


def needles(person: dict[str, str]) -> list[str]:
    return [person["name"], person["email"], person["phone"], person["phone"].lstrip("+")]


def inbound(
    event_id: str, event_type: str, subject: str, data: dict[str, Any], source: str = "/core/crm"
) -> Envelope:
    return Envelope(id=event_id, source=source, type=event_type, time=T0, subject=subject, data=data)


def customer(customer_id: str, account_id: str, person: dict[str, str]) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "account_ids": [account_id],
        "name": person["name"],
        "kind": "person",
        "country": "CO",
        "timezone": "America/Bogota",
        "document_id": f"CC-{customer_id}-1029384756",
        "email": person["email"],
        "phone": person["phone"],
        "address": f"Calle 12 # 34-56, casa de {person['name']}",
        "contact_points": [
            {"channel": "email", "value": person["email"], "consent": True, "primary": True},
            {"channel": "sms", "value": person["phone"], "consent": True},
            {"channel": "letter", "value": f"Calle 12 # 34-56, casa de {person['name']}", "consent": True},
        ],
    }


def invoice(invoice_id: str, customer_id: str, account_id: str, person: dict[str, str]) -> dict[str, Any]:
    return {
        "invoice_id": invoice_id,
        "account_id": account_id,
        "customer": {
            "customer_id": customer_id,
            "name": person["name"],
            "kind": "person",
            "country": "CO",
            "timezone": "America/Bogota",
            "email": person["email"],
            "phone": person["phone"],
        },
        "amount": "300000.00",
        "currency": "COP",
        "issued_on": "2025-11-01",
        "due_on": "2025-12-01",
        "product_line": "auto",
    }


def payment(payment_id: str, account_id: str, person: dict[str, str]) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "account_id": account_id,
        "amount": "100000.00",
        "currency": "COP",
        "received_on": "2026-01-05",
        "method": "transferencia",
        "reference": f"pago de {person['name']} tel {person['phone']}",
        "payer_name": person["name"],
    }


def letter_due(contact_id: str, account_id: str) -> Envelope:
    return Envelope(
        id=f"due-{contact_id}",
        source="/cobranza/strategy",
        type="cobranza.contact.due",
        time=T0,
        subject=account_id,
        data={
            "contact_id": contact_id,
            "account_id": account_id,
            "channel": "letter",
            "scheduled_for": T0.isoformat(),
            "strategy": "manual",
            "step": "carta",
            "template": "carta_cobro",
        },
    )


def owner_url(platform: Any) -> str:
    return platform.context("ingest").engine.url.render_as_string(hide_password=False)


def scan_database(url: str, terms: Iterable[str], schemas: Iterable[str] = SERVICES) -> dict[str, list[str]]:
    """term -> ``schema.table.column`` of every text-like column, of every table, holding it."""
    terms = list(terms)
    engine = create_engine(sqlalchemy_url(url))
    found: dict[str, list[str]] = {t: [] for t in terms}
    try:
        with engine.connect() as conn:
            columns = conn.execute(
                text(
                    """
                    SELECT c.table_schema, c.table_name, c.column_name, c.data_type
                      FROM information_schema.columns c
                      JOIN information_schema.tables t
                        ON t.table_schema = c.table_schema AND t.table_name = c.table_name
                     WHERE t.table_type = 'BASE TABLE'
                       AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
                       AND c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea')
                    """
                )
            ).all()
            assert {c.table_schema for c in columns} >= {*schemas, "auth"}
            for col in columns:
                ref = f'"{col.table_schema}"."{col.table_name}"'
                value = (
                    f"convert_from(\"{col.column_name}\", 'UTF8')"
                    if col.data_type == "bytea"
                    else f'CAST("{col.column_name}" AS text)'
                )
                for term in terms:
                    hit = conn.execute(
                        text(f"SELECT EXISTS (SELECT 1 FROM {ref} WHERE strpos({value}, :term) > 0)"),
                        {"term": term},
                    ).scalar_one()
                    if hit:
                        found[term].append(f"{col.table_schema}.{col.table_name}.{col.column_name}")
    finally:
        engine.dispose()
    return {t: where for t, where in found.items() if where}


def file_text(path: Path) -> str:
    """A file's text; a PDF's content streams inflated (reportlab compresses them)."""
    raw = path.read_bytes()
    parts = [raw]
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", raw, re.DOTALL):
        try:
            parts.append(zlib.decompress(stream))
        except zlib.error:
            parts.append(stream)
    return b"\n".join(parts).decode("latin-1") + raw.decode("utf-8", errors="replace")


def scan_files(root: Path, terms: Iterable[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        content = file_text(path)
        for term in terms:
            # a PDF draws text with its spaces and escapes: match the words one by one too
            if term in content or all(word in content for word in term.split()):
                found.setdefault(term, []).append(str(path.relative_to(root)))
    return found


def balances(url: str) -> dict[str, Any]:
    """Every numeric column of every reconciliation and reporting table with an account and a currency,
    summed per (account, currency)."""
    engine = create_engine(sqlalchemy_url(url))
    out: dict[str, Any] = {}
    try:
        with engine.connect() as conn:
            numeric = conn.execute(
                text(
                    """
                    SELECT table_schema, table_name, array_agg(column_name::text ORDER BY column_name) AS cols
                      FROM information_schema.columns
                     WHERE table_schema IN ('reconciliation', 'reporting') AND data_type = 'numeric'
                     GROUP BY table_schema, table_name
                    """
                )
            ).all()
            for t in numeric:
                names = set(
                    conn.execute(
                        text(
                            "SELECT column_name FROM information_schema.columns "
                            "WHERE table_schema = :s AND table_name = :t"
                        ),
                        {"s": t.table_schema, "t": t.table_name},
                    ).scalars()
                )
                if not {"account_id", "currency"} <= names:
                    continue
                sums = ", ".join(f'sum("{c}")' for c in t.cols)
                rows = conn.execute(
                    text(
                        f'SELECT account_id, currency, {sums} FROM "{t.table_schema}"."{t.table_name}" '
                        "GROUP BY account_id, currency ORDER BY account_id, currency"
                    )
                ).all()
                out[f"{t.table_schema}.{t.table_name}"] = [tuple(r) for r in rows]
    finally:
        engine.dispose()
    return out


@pytest.fixture
def notifier_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COBRANZA_NOTIFIER_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("COBRANZA_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("COBRANZA_NOTIFIER_SMTP_HOST", raising=False)
    monkeypatch.delenv("COBRANZA_NOTIFIER_SMS_HTTP_URL", raising=False)
    return tmp_path / "notifier"


def two_customers(platform: Any) -> None:
    """C1 (to erase) and C2 (kept): customer records, invoices, a payment, contacts planned and sent."""
    platform.advance_to(T0)
    for n, (cid, acc, person) in enumerate((("C1", "A1", ERASED), ("C2", "B1", KEPT))):
        platform.publish(
            inbound(f"cu-{cid}", "cobranza.customer.upserted", cid, customer(cid, acc, person)),
            Topics.INBOUND,
        )
        platform.publish(
            inbound(
                f"inv-{cid}",
                "cobranza.invoice.issued",
                acc,
                invoice(f"I{n}", cid, acc, person),
                "/core/policy",
            ),
            Topics.INBOUND,
        )
    platform.run_until_quiet()
    for n, (acc, person) in enumerate((("A1", ERASED), ("B1", KEPT))):
        platform.publish(
            inbound(f"pay-{acc}", "cobranza.payment.received", acc, payment(f"P{n}", acc, person), "/bank"),
            Topics.INBOUND,
        )
    platform.run_until_quiet()
    platform.publish(letter_due("L-A1", "A1"), Topics.CONTACTS)
    platform.publish(letter_due("L-B1", "B1"), Topics.CONTACTS)
    platform.run_until_quiet()
    platform.advance_to(datetime(2026, 1, 9, 23, tzinfo=UTC))  # midnights: aging, strategy's steps, delivery


def test_after_erase_the_customer_is_nowhere_and_the_money_still_adds_up(
    make_platform, notifier_dir: Path
) -> None:
    platform = make_platform(SERVICES)
    two_customers(platform)
    url = owner_url(platform)
    # the positive control: the scan sees both customers everywhere they went
    before_db = scan_database(url, needles(ERASED) + needles(KEPT))
    assert set(before_db) == set(needles(ERASED) + needles(KEPT)), before_db
    assert {w.split(".")[0] for w in before_db[ERASED["name"]]} >= {"ingest", "notifier", "reconciliation"}
    letters = sorted(p.name for p in (notifier_dir / "letters").glob("*.pdf"))
    assert letters == ["L-A1.pdf", "L-B1.pdf"]
    assert ERASED["name"] in scan_files(notifier_dir, needles(ERASED))
    emailed = sorted(p.name for p in (notifier_dir / "outbox").glob("*.eml"))
    assert emailed, "strategy planned and notifier sent the e-mails"
    money = balances(url)
    assert money

    done = erase_customer(
        [load_spec(s) for s in SERVICES],
        url,
        "default",
        "C1",
        reason="titular request",
        context=platform.context("ingest"),
    )
    platform.run_until_quiet()

    assert done["account_ids"] == ["A1"]
    assert set(done["services"]) == set(SERVICES) - {"ingest"}
    assert scan_database(url, needles(ERASED)) == {}
    assert scan_files(notifier_dir, needles(ERASED)) == {}
    assert not (notifier_dir / "letters" / "L-A1.pdf").exists()
    # scoped: the other customer's data is all still there
    assert set(scan_database(url, needles(KEPT))) == set(needles(KEPT))
    assert (notifier_dir / "letters" / "L-B1.pdf").exists()
    # money and delinquency facts stay, under the same ids
    assert balances(url) == money

    # an old record re-sent by the core system does not bring the person back
    platform.publish(
        inbound("cu-C1-again", "cobranza.customer.upserted", "C1", customer("C1", "A1", ERASED)),
        Topics.INBOUND,
    )
    platform.run_until_quiet()
    assert scan_database(url, needles(ERASED)) == {}
    letters_dlq = [
        p
        for p in platform.broker.topics[Topics.DEAD_LETTER]
        if p.headers.get("dlq_kind") == "erased_customer"
    ]
    assert len(letters_dlq) == 1
    assert "erased" in letters_dlq[0].headers["dlq_reason"]
    assert not any(term in json.dumps(letters_dlq[0].headers) for term in needles(ERASED))

    # erasing again is harmless
    again = erase_customer(
        [load_spec(s) for s in SERVICES], url, "default", "C1", context=platform.context("ingest")
    )
    platform.run_until_quiet()
    assert again["already_erased_at"] is not None
    assert balances(url) == money
    assert set(scan_database(url, needles(KEPT))) == set(needles(KEPT))


def test_the_erased_event_supersedes_the_upsert_on_the_compacted_customers_topic(
    make_platform, notifier_dir: Path
) -> None:
    platform = make_platform(["ingest", "notifier"])
    platform.publish(
        inbound("cu-C1", "cobranza.customer.upserted", "C1", customer("C1", "A1", ERASED)), Topics.INBOUND
    )
    platform.run_until_quiet()

    erase_customer(
        [load_spec("ingest"), load_spec("notifier")],
        owner_url(platform),
        "default",
        "C1",
        context=platform.context("ingest"),
    )
    platform.run_until_quiet()

    on_key = [p for p in platform.broker.topics[Topics.CUSTOMERS] if p.record.key == b"C1"]
    types = [json.loads(p.record.value or b"")["type"] for p in on_key]
    assert types == ["cobranza.customer.upserted", "cobranza.customer.erased"]
    erased = json.loads(on_key[-1].record.value or b"")["data"]
    assert (erased["customer_id"], erased["account_ids"], erased["legal_basis"]) == (
        "C1",
        ["A1"],
        "habeas_data",
    )


def test_rest_refuses_an_erased_customer_with_the_reason(make_platform, notifier_dir: Path) -> None:
    from tests.support.auth import api_client

    platform = make_platform(["ingest"])
    ingest = platform.context("ingest")
    client = api_client(ingest, role="ingest", source="crm")
    body = {k: v for k, v in customer("C7", "A7", ERASED).items() if k not in ("customer_id", "account_ids")}
    assert client.put("/v1/customers/C7", json={**body, "account_ids": ["A7"]}).status_code == 200
    erase_customer([load_spec("ingest")], owner_url(platform), "default", "C7", context=ingest)

    refused = client.put("/v1/customers/C7", json={**body, "account_ids": ["A7"]})
    assert refused.status_code == 422, refused.text
    assert "erased" in refused.text and ERASED["name"] not in refused.text
    bulk = client.post(
        "/v1/customers:bulk",
        json={"items": [{**body, "customer_id": "C7"}, {**customer("C8", "A8", KEPT), "customer_id": "C8"}]},
    )
    assert bulk.status_code == 200, bulk.text
    statuses = [r["status"] for r in bulk.json()["items"]]
    assert statuses == ["rejected", "accepted"]
    assert "erased" in bulk.json()["items"][0]["reason"]
    stored = scan_database(owner_url(platform), needles(ERASED), ["ingest"])
    assert stored == {}, stored


def test_the_cli_prints_what_it_did_and_an_unknown_customer_exits_2(
    make_platform, notifier_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from libs.platform.cli import app

    platform = make_platform(SERVICES)
    platform.publish(
        inbound("cu-C1", "cobranza.customer.upserted", "C1", customer("C1", "A1", ERASED)), Topics.INBOUND
    )
    platform.run_until_quiet()
    url = owner_url(platform)
    monkeypatch.setenv("DATABASE_URL", url)
    runner = CliRunner()

    unknown = runner.invoke(app, ["privacy", "erase", "NOBODY"])
    assert unknown.exit_code == 2
    assert "NOBODY" in unknown.output

    result = runner.invoke(app, ["privacy", "erase", "C1", "--reason", "titular request"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert (printed["customer_id"], printed["account_ids"]) == ("C1", ["A1"])
    assert set(printed["services"]) == set(SERVICES) - {"ingest"}
    assert printed["already_erased_at"] is None
    assert printed["before"]["ingest"] >= 1
    assert not any(term in result.output for term in needles(ERASED))

    again = runner.invoke(app, ["privacy", "erase", "C1"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["already_erased_at"] is not None

    engine = create_engine(sqlalchemy_url(url))
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT actor, route, object_ids, before, after FROM auth.audit_log WHERE route = 'privacy.erase'"
            )
        ).all()
    engine.dispose()
    assert len(rows) == 2
    assert rows[0].object_ids == {"customer_id": "C1"}
    assert rows[0].actor.startswith(("os:", "key:"))
    assert not any(term in json.dumps([r.before, r.after]) for r in rows for term in needles(ERASED))
    # the platform then consumes the event the CLI published through ingest's outbox
    platform.run_until_quiet()
    assert scan_database(url, needles(ERASED)) == {}


def test_scrub_keeps_ids_and_money_and_drops_what_identifies_the_person() -> None:
    from libs.platform.privacy import scrub, scrub_record

    event = {
        "id": "e1",
        "data": {
            "invoice_id": "I1",
            "account_id": "A1",
            "amount": "10.00",
            "customer": {
                "customer_id": "C1",
                "name": "Ana",
                "email": "a@x.co",
                "phone": "+57300",
                "kind": "person",
            },
            "contact_points": [{"channel": "sms", "value": "+57300", "consent": True}],
        },
    }
    scrubbed = scrub(event)
    assert scrubbed["data"]["customer"] == {"customer_id": "C1", "name": "erased", "kind": "person"}
    assert scrubbed["data"]["amount"] == "10.00" and "contact_points" not in scrubbed["data"]
    assert json.loads(scrub_record(b"{not json")) == {"erased": "habeas_data"}
    assert Decimal(json.loads(scrub_record(json.dumps(event).encode()))["data"]["amount"]) == Decimal("10")


def test_an_admin_erases_over_http_and_nobody_else_may(make_platform, notifier_dir: Path) -> None:
    from tests.support.auth import api_client

    platform = make_platform(["ingest", "notifier"])
    platform.publish(
        inbound("cu-C1", "cobranza.customer.upserted", "C1", customer("C1", "A1", ERASED)), Topics.INBOUND
    )
    platform.publish(
        inbound("inv-C1", "cobranza.invoice.issued", "A2", invoice("I1", "C1", "A2", ERASED), "/core/policy"),
        Topics.INBOUND,
    )
    platform.run_until_quiet()
    ingest = platform.context("ingest")
    path = "/v1/customers/C1/erase"

    for role in ("ingest", "agent", "supervisor", "auditor"):
        assert api_client(ingest, role=role).post(path).status_code == 403, role
    admin = api_client(ingest, role="admin")
    assert admin.post("/v1/customers/NOBODY/erase").status_code == 404

    done = admin.post(path, json={"reason": "titular request"})
    assert done.status_code == 200, done.text
    # the accounts ingest's own records name: the upsert's and the forwarded invoice's
    assert done.json()["account_ids"] == ["A1", "A2"]
    assert done.json()["already_erased_at"] is None
    platform.run_until_quiet()
    assert scan_database(owner_url(platform), needles(ERASED), ["ingest", "notifier"]) == {}
    assert admin.post(path).json()["already_erased_at"] is not None


def test_a_person_s_customer_upsert_leaves_no_personal_data_in_the_audit_log(
    make_platform, notifier_dir: Path
) -> None:
    from tests.support.auth import api_client

    platform = make_platform(["ingest"])
    ingest = platform.context("ingest")
    body = {k: v for k, v in customer("C7", "A7", ERASED).items() if k != "customer_id"}
    admin = api_client(ingest, role="admin")
    assert admin.put("/v1/customers/C7", json=body).status_code == 200
    erase_customer([load_spec("ingest")], owner_url(platform), "default", "C7", context=ingest)

    assert scan_database(owner_url(platform), needles(ERASED), ["ingest"]) == {}
    engine = create_engine(sqlalchemy_url(owner_url(platform)))
    with engine.connect() as conn:
        routes = conn.execute(
            text("SELECT route, after FROM auth.audit_log WHERE tenant_id = 'default' ORDER BY id")
        ).all()
    engine.dispose()
    # the person's upsert is still audited (who, when, what, ids), its record no longer
    assert [r.route for r in routes] == ["/v1/customers/{customer_id}", "privacy.erase"]
    assert routes[0].after == {"erased": "habeas_data"}
