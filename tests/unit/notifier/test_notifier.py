"""notifier on the in-memory platform: due contacts become outcomes, letters PDFs, voice a queue."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from services.notifier.adapters.providers import (
    Delivery,
    HttpMessagingProvider,
    Recipient,
    providers_for,
)
from services.notifier.config import NotifierSettings
from services.notifier.domain.messages import Message, UnknownTemplate, render
from tests.support.auth import api_client

T0 = datetime(2026, 1, 14, 15, tzinfo=UTC)
_seq = iter(range(1, 10_000))


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COBRANZA_NOTIFIER_STATE_DIR", str(tmp_path))
    for name in ("SMTP_HOST", "SMS_HTTP_URL", "WHATSAPP_HTTP_URL"):
        monkeypatch.delenv(f"COBRANZA_NOTIFIER_{name}", raising=False)
    return tmp_path


def env(
    event_type: str, data: dict[str, Any], at: datetime = T0, *, tenant: str = "default", subject: str = "A1"
) -> Envelope:
    return Envelope(
        id=f"n{next(_seq)}",
        source="/test",
        type=event_type,
        time=at,
        subject=subject,
        data=data,
        tenantid=tenant,
    )


CUSTOMER = {
    "customer_id": "C1",
    "account_ids": ["A1"],
    "name": "Ana Pérez",
    "kind": "person",
    "country": "CO",
    "timezone": "America/Bogota",
    "address": "Calle 10 # 5-20, Bogotá",
    "contact_points": [
        {"channel": "email", "value": "ana@example.com", "consent": True},
        {"channel": "sms", "value": "+573001234567", "consent": True},
    ],
}


def due(contact_id: str, channel: str, template: str, at: datetime = T0) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "account_id": "A1",
        "channel": channel,
        "scheduled_for": at.isoformat(),
        "strategy": "default",
        "step": template,
        "template": template,
    }


def outcomes(platform) -> list[dict[str, Any]]:
    return [
        json.loads(p.record.value or b"")["data"]
        for p in platform.broker.topics.get(Topics.CONTACTS, [])
        if json.loads(p.record.value or b"")["type"] == "cobranza.contact.outcome"
    ]


def test_email_and_sms_are_delivered_to_files_and_reported(make_platform, clock, state_dir) -> None:
    platform = make_platform(["notifier"])
    platform.advance_to(T0)
    platform.publish(env("cobranza.customer.upserted", CUSTOMER), Topics.CUSTOMERS)
    platform.run_until_quiet()
    platform.publish(env("cobranza.contact.due", due("K1", "email", "aviso_mora")), Topics.CONTACTS)
    platform.publish(env("cobranza.contact.due", due("K2", "sms", "sms_mora")), Topics.CONTACTS)
    platform.run_until_quiet()
    got = {o["contact_id"]: (o["status"], o["provider"]) for o in outcomes(platform)}
    assert got == {"K1": ("sent", "outbox-file"), "K2": ("sent", "sms-log-file")}
    mail = message_from_bytes((state_dir / "notifier" / "outbox" / "K1.eml").read_bytes())
    assert mail["To"] == "ana@example.com"
    assert mail["Subject"] == "Su cuenta presenta un saldo vencido"
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes) and "Ana Pérez" in payload.decode("utf-8")
    sms = json.loads((state_dir / "notifier" / "sms.log").read_text(encoding="utf-8"))
    assert sms["to"] == "+573001234567" and "A1" in sms["body"]


def test_future_contact_waits_for_its_time(make_platform, clock) -> None:
    platform = make_platform(["notifier"])
    platform.advance_to(T0)
    platform.publish(env("cobranza.customer.upserted", CUSTOMER), Topics.CUSTOMERS)
    later = datetime(2026, 1, 15, 12, tzinfo=UTC)
    platform.publish(env("cobranza.contact.due", due("K1", "email", "aviso_mora", later)), Topics.CONTACTS)
    platform.run_until_quiet()
    assert outcomes(platform) == []
    platform.advance_to(later)
    [outcome] = outcomes(platform)
    assert outcome["status"] == "sent"
    assert datetime.fromisoformat(outcome["occurred_at"]) == later


def test_letter_is_a_pdf_served_by_the_api(make_platform, clock) -> None:
    platform = make_platform(["notifier"])
    platform.advance_to(T0)
    platform.publish(env("cobranza.customer.upserted", CUSTOMER), Topics.CUSTOMERS)
    platform.run_until_quiet()
    platform.publish(env("cobranza.contact.due", due("L1", "letter", "carta_cobro")), Topics.CONTACTS)
    platform.run_until_quiet()
    assert [(o["contact_id"], o["status"]) for o in outcomes(platform)] == [("L1", "sent")]
    client = api_client(platform.context("notifier"))
    response = client.get("/v1/letters/L1.pdf")
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
    assert client.get("/v1/letters/nope.pdf").status_code == 404


def test_missing_address_or_template_fails_with_a_reason(make_platform, clock) -> None:
    platform = make_platform(["notifier"])
    platform.advance_to(T0)
    platform.publish(env("cobranza.contact.due", due("E1", "email", "aviso_mora")), Topics.CONTACTS)
    platform.publish(env("cobranza.contact.due", due("E2", "email", "no_such_template")), Topics.CONTACTS)
    platform.run_until_quiet()
    got = {o["contact_id"]: (o["status"], o["detail"]) for o in outcomes(platform)}
    assert got["E1"] == ("failed", "no e-mail address on file")
    assert got["E2"][0] == "failed" and "no_such_template" in got["E2"][1]


def test_voice_goes_to_the_call_center_queue_and_its_outcome_is_reported(make_platform, clock) -> None:
    platform = make_platform(["notifier"])
    platform.advance_to(T0)
    platform.publish(env("cobranza.contact.due", due("V1", "voice", "guion_llamada")), Topics.CONTACTS)
    platform.run_until_quiet()
    assert outcomes(platform) == []
    client = api_client(platform.context("notifier"))
    queue = client.get("/v1/tasks", params={"channel": "voice", "status": "queued"}).json()
    assert [t["contact_id"] for t in queue] == ["V1"]
    bad = client.post("/v1/tasks/V1/outcome", json={"status": "maybe"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "status"]
    assert client.post("/v1/tasks/V9/outcome", json={"status": "answered"}).status_code == 404
    ok = client.post("/v1/tasks/V1/outcome", json={"status": "answered", "detail": "promesa acordada"})
    assert ok.status_code == 200 and ok.json()["status"] == "answered"
    platform.run_until_quiet()
    [outcome] = outcomes(platform)
    assert (outcome["contact_id"], outcome["status"], outcome["provider"]) == (
        "V1",
        "answered",
        "call-center",
    )


def test_a_stop_reply_to_a_contact_is_an_opt_out_of_its_channel(make_platform, clock) -> None:
    platform = make_platform(["notifier"])
    platform.advance_to(T0)
    platform.publish(env("cobranza.contact.due", due("V1", "voice", "guion_llamada")), Topics.CONTACTS)
    platform.run_until_quiet()
    client = api_client(platform.context("notifier"), role="provider")
    assert client.post("/v1/tasks/V9/opt-out", json={}).status_code == 404
    bad = client.post("/v1/tasks/V1/opt-out", json={"occurred_at": "yesterday"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "occurred_at"]
    answer = client.post("/v1/tasks/V1/opt-out", json={"source": "stop_reply"})
    assert answer.status_code == 202
    platform.run_until_quiet()
    [opted] = [
        json.loads(p.record.value or b"")
        for p in platform.broker.topics.get(Topics.CONTACTS, [])
        if json.loads(p.record.value or b"")["type"] == "cobranza.contact.opted_out"
    ]
    assert opted["subject"] == "A1"
    data = opted["data"]
    assert (data["account_id"], data["channel"], data["source"], data["contact_id"]) == (
        "A1",
        "voice",
        "stop_reply",
        "V1",
    )


def test_templates_render_spanish_subjects() -> None:
    message = render("recordatorio_previo", {"name": "Ana", "account_id": "A1", "address": "", "sender": "X"})
    assert message.subject.startswith("Recordatorio") and "Ana" in message.body
    with pytest.raises(UnknownTemplate):
        render("nope", {})


def test_http_provider_is_not_inline_and_reports_gateway_errors(monkeypatch) -> None:
    monkeypatch.setenv("COBRANZA_NOTIFIER_SMS_HTTP_URL", "http://127.0.0.1:9/sms")
    provider = providers_for(NotifierSettings())["sms"]
    assert isinstance(provider, HttpMessagingProvider) and provider.inline is False
    delivery = Delivery("K", "A1", "sms", Recipient("Ana", phone="+573001234567"), Message("s", "b"))
    result = provider.deliver(delivery)
    assert result.status == "failed" and result.provider == "sms-http"


def test_network_provider_tasks_wait_for_the_dispatcher(make_platform, clock, monkeypatch) -> None:
    from services.notifier.service_layer.dispatch import dispatch_ready

    monkeypatch.setenv("COBRANZA_NOTIFIER_SMS_HTTP_URL", "http://127.0.0.1:9/sms")
    platform = make_platform(["notifier"])
    platform.advance_to(T0)
    platform.publish(env("cobranza.customer.upserted", CUSTOMER), Topics.CUSTOMERS)
    platform.run_until_quiet()
    platform.publish(env("cobranza.contact.due", due("S1", "sms", "sms_mora")), Topics.CONTACTS)
    platform.run_until_quiet()
    assert outcomes(platform) == []
    ctx = platform.context("notifier")
    client = api_client(ctx)
    assert [t["status"] for t in client.get("/v1/tasks", params={"channel": "sms"}).json()] == ["ready"]
    assert dispatch_ready(ctx) == 1
    assert dispatch_ready(ctx) == 0
    platform.run_until_quiet()
    [outcome] = outcomes(platform)
    assert (outcome["contact_id"], outcome["status"], outcome["provider"]) == ("S1", "failed", "sms-http")


def test_a_customer_keyed_by_customer_id_reaches_every_account_it_names(
    make_platform, clock, state_dir
) -> None:
    platform = make_platform(["notifier"])
    platform.advance_to(T0)
    customer = dict(CUSTOMER, account_ids=["A1", "A2"])
    platform.publish(env("cobranza.customer.upserted", customer, subject="C1"), Topics.CUSTOMERS)
    platform.run_until_quiet()
    platform.publish(
        env("cobranza.contact.due", dict(due("K2", "email", "aviso_mora"), account_id="A2")), Topics.CONTACTS
    )
    platform.run_until_quiet()
    assert [(o["contact_id"], o["account_id"], o["status"]) for o in outcomes(platform)] == [
        ("K2", "A2", "sent")
    ]
    mail = message_from_bytes((state_dir / "notifier" / "outbox" / "K2.eml").read_bytes())
    assert mail["To"] == "ana@example.com"


def test_two_tenants_with_the_same_ids_are_independent(make_platform, clock, state_dir) -> None:
    platform = make_platform(["notifier"])
    platform.advance_to(T0)
    other = dict(
        CUSTOMER, contact_points=[{"channel": "email", "value": "otra@example.com", "consent": True}]
    )
    platform.publish(env("cobranza.customer.upserted", CUSTOMER, tenant="aseguradora"), Topics.CUSTOMERS)
    platform.publish(env("cobranza.customer.upserted", other, tenant="financiera"), Topics.CUSTOMERS)
    platform.run_until_quiet()
    for tenant in ("aseguradora", "financiera", "default"):
        platform.publish(
            env("cobranza.contact.due", due("K1", "email", "aviso_mora"), tenant=tenant), Topics.CONTACTS
        )
    platform.publish(
        env("cobranza.contact.due", due("V1", "voice", "guion_llamada"), tenant="financiera"), Topics.CONTACTS
    )
    platform.run_until_quiet()
    got = sorted(
        (json.loads(p.record.value)["tenantid"], json.loads(p.record.value)["data"]["status"])
        for p in platform.broker.topics[Topics.CONTACTS]
        if json.loads(p.record.value)["type"] == "cobranza.contact.outcome"
    )
    assert got == [
        ("aseguradora", "sent"),
        ("default", "failed"),
        ("financiera", "sent"),
    ]  # default: no address
    root = state_dir / "notifier" / "tenants"
    assert (
        message_from_bytes((root / "aseguradora" / "outbox" / "K1.eml").read_bytes())["To"]
        == "ana@example.com"
    )
    assert (
        message_from_bytes((root / "financiera" / "outbox" / "K1.eml").read_bytes())["To"]
        == "otra@example.com"
    )

    client = api_client(platform.context("notifier"))
    fin = {"X-Cobranza-Tenant": "financiera"}
    assert [
        t["contact_id"] for t in client.get("/v1/tasks", params={"channel": "voice"}, headers=fin).json()
    ] == ["V1"]
    assert client.get("/v1/tasks", params={"channel": "voice"}).json() == []
    assert client.post("/v1/tasks/V1/outcome", json={"status": "answered"}).status_code == 404
    assert client.post("/v1/tasks/V1/outcome", json={"status": "answered"}, headers=fin).status_code == 200
    bad = client.post("/v1/tasks/V%001/outcome", json={"status": "answered"}, headers=fin)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["path", "contact_id"]


def test_letters_are_served_per_tenant(make_platform, clock) -> None:
    platform = make_platform(["notifier"])
    platform.advance_to(T0)
    platform.publish(env("cobranza.customer.upserted", CUSTOMER, tenant="aseguradora"), Topics.CUSTOMERS)
    platform.run_until_quiet()
    platform.publish(
        env("cobranza.contact.due", due("L1", "letter", "carta_cobro"), tenant="aseguradora"), Topics.CONTACTS
    )
    platform.run_until_quiet()
    client = api_client(platform.context("notifier"))
    assert client.get("/v1/letters/L1.pdf", headers={"X-Cobranza-Tenant": "aseguradora"}).content.startswith(
        b"%PDF"
    )
    assert client.get("/v1/letters/L1.pdf").status_code == 404


def test_the_dispatcher_records_each_outcome_in_its_tenant(make_platform, clock, monkeypatch) -> None:
    from services.notifier.service_layer.dispatch import dispatch_ready

    monkeypatch.setenv("COBRANZA_NOTIFIER_SMS_HTTP_URL", "http://127.0.0.1:9/sms")
    platform = make_platform(["notifier"])
    platform.advance_to(T0)
    for tenant in ("aseguradora", "financiera"):
        platform.publish(env("cobranza.customer.upserted", CUSTOMER, tenant=tenant), Topics.CUSTOMERS)
        platform.publish(
            env("cobranza.contact.due", due("S1", "sms", "sms_mora"), tenant=tenant), Topics.CONTACTS
        )
    platform.run_until_quiet()
    assert dispatch_ready(platform.context("notifier")) == 2
    platform.run_until_quiet()
    got = sorted(
        (body["tenantid"], body["data"]["contact_id"], body["data"]["status"])
        for body in (json.loads(p.record.value or b"") for p in platform.broker.topics[Topics.CONTACTS])
        if body["type"] == "cobranza.contact.outcome"
    )
    assert got == [("aseguradora", "S1", "failed"), ("financiera", "S1", "failed")]


def test_email_files_are_rfc_5322_with_encoded_non_ascii_headers(tmp_path) -> None:
    from email import policy

    from services.notifier.adapters.providers import OutboxFileEmailProvider

    provider = OutboxFileEmailProvider(tmp_path, "Cobranza Peñalosa <cobranza@example.com>")
    message = Message("Último aviso:\r\nBcc: x@evil.example", "Señora Núñez,\nsu saldo vence hoy.\n")
    result = provider.deliver(
        Delivery("K/1", "A1", "email", Recipient("Ana", email="ana@example.com"), message)
    )
    assert result.status == "sent" and result.artifact is not None
    raw = Path(result.artifact).read_bytes()
    assert raw.split(b"\n\n", 1)[0].isascii()
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["Subject"] == "Último aviso: Bcc: x@evil.example"  # one header, never two
    assert mail["Bcc"] is None
    assert mail["From"].addresses[0].display_name == "Cobranza Peñalosa"
    assert mail["To"] == "ana@example.com" and mail["X-Cobranza-Contact-Id"] == "K/1"
    assert mail.get_content() == "Señora Núñez,\nsu saldo vence hoy.\n"


@pytest.mark.parametrize(
    "value",
    [
        "ana@example.com",
        "a.b-c+d@mail.example.co",
        "Ana Pérez <ana@example.com>",
        '"Pérez, Ana" <ana@example.com>',
        "ana@example.com (casa)",
        "a..b@example.com",
        "ana@ex ample.com",
        "ana@example.com\nBcc: x@y.z",
        "añá@example.com",
        "@example.com",
        "ana@",
    ],
)
def test_a_bare_address_skips_the_parser_and_gets_what_the_parser_gives(value: str) -> None:
    from email.utils import formataddr, parseaddr

    from services.notifier.adapters.providers import _address

    name, address = parseaddr(" ".join(value.splitlines()))
    assert _address(value) == (formataddr((name, address), "utf-8") if name else address)


def test_settings_follow_the_environment_between_batches(monkeypatch, tmp_path) -> None:
    from services.notifier.config import notifier_settings

    monkeypatch.setenv("COBRANZA_NOTIFIER_STATE_DIR", str(tmp_path / "a"))
    first = notifier_settings()
    assert notifier_settings() is first and first.state_dir == tmp_path / "a"
    monkeypatch.setenv("COBRANZA_NOTIFIER_STATE_DIR", str(tmp_path / "b"))
    assert notifier_settings().state_dir == tmp_path / "b"
