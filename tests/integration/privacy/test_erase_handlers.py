"""The per-service erasure handlers where they do more than scrub: strategy's closed channels, the
notifier's files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from services.notifier.service_layer.privacy import erase_files

T0 = datetime(2026, 1, 5, 15, tzinfo=UTC)


def upsert(event_id: str, consented_at: datetime | None) -> Envelope:
    point = {"channel": "sms", "value": "+573001234567", "consent": True}
    if consented_at is not None:
        point["consent_updated_at"] = consented_at.isoformat()
    return Envelope(
        id=event_id,
        source="/cobranza/ingest",
        type="cobranza.customer.upserted",
        time=T0,
        subject="C1",
        data={
            "customer_id": "C1",
            "account_ids": ["A1"],
            "name": "Ana",
            "kind": "person",
            "country": "CO",
            "timezone": "America/Bogota",
            "contact_points": [point],
        },
    )


def erased(event_id: str) -> Envelope:
    return Envelope(
        id=event_id,
        source="/cobranza/ingest",
        type="cobranza.customer.erased",
        time=T0,
        subject="C1",
        data={"customer_id": "C1", "account_ids": ["A1"], "requested_at": T0.isoformat()},
    )


def consents(platform) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    with platform.context("strategy").sessions() as session:
        rows = session.execute(text("SELECT channel, consent FROM strategy.consents WHERE account_id = 'A1'"))
        return {r.channel: r.consent for r in rows}


def test_strategy_closes_every_channel_and_an_old_record_does_not_reopen_one(make_platform, clock) -> None:
    platform = make_platform(["strategy"])
    platform.advance_to(T0)
    platform.publish(upsert("u1", T0 - timedelta(days=30)), Topics.CUSTOMERS)
    platform.run_until_quiet()
    assert consents(platform)["sms"] is True

    platform.publish(erased("x1"), Topics.CUSTOMERS)
    platform.run_until_quiet()
    closed = consents(platform)
    assert set(closed) == {"email", "sms", "whatsapp", "voice", "letter"}
    assert not any(closed.values())

    # the same old record, re-sent past ingest (a replay): the withdrawal stands
    platform.publish(upsert("u1-again", T0 - timedelta(days=30)), Topics.CUSTOMERS)
    platform.publish(upsert("u1-undated", None), Topics.CUSTOMERS)
    platform.run_until_quiet()
    assert not any(consents(platform).values())


def test_notifier_deletes_the_contacts_files_and_keeps_the_others(tmp_path: Path) -> None:
    root = tmp_path / "notifier"
    (root / "letters").mkdir(parents=True)
    (root / "outbox").mkdir()
    for contact in ("K1", "K2"):
        (root / "letters" / f"{contact}.pdf").write_bytes(b"%PDF")
        (root / "outbox" / f"{contact}.eml").write_text("To: x")
    log = root / "sms.log"
    log.write_text(
        "".join(json.dumps({"contact_id": c, "to": "+57", "body": "hola"}) + "\n" for c in ("K1", "K2", "K1"))
    )

    erase_files(root, "default", {"K1"})

    assert sorted(p.name for p in root.rglob("*.*")) == ["K2.eml", "K2.pdf", "sms.log"]
    assert [json.loads(line)["contact_id"] for line in log.read_text().splitlines()] == ["K2"]
    erase_files(root, "default", {"K1"})  # again: nothing left to do, nothing fails
