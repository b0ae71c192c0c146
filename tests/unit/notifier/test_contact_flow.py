"""strategy -> notifier -> reporting: a delinquent account's first contact is sent and counted."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from tests.support.auth import api_client

BOG = ZoneInfo("America/Bogota")


def test_aged_account_is_emailed_in_the_legal_window_and_reported(
    make_platform, clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COBRANZA_NOTIFIER_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("COBRANZA_NOTIFIER_SMTP_HOST", raising=False)
    platform = make_platform(["strategy", "notifier", "reporting"])
    t0 = datetime(2026, 1, 17, 16, tzinfo=BOG)  # Saturday after 15:00
    platform.advance_to(t0)
    customer = {
        "customer_id": "C1",
        "account_ids": ["A1"],
        "name": "Ana",
        "kind": "person",
        "country": "CO",
        "timezone": "America/Bogota",
        "email": "ana@example.com",
        # consent is closed by default (Ley 2300): the e-mail channel is authorised explicitly
        "contact_points": [{"channel": "email", "value": "ana@example.com", "consent": True}],
    }
    aged = {
        "account_id": "A1",
        "bucket": "dpd_1_30",
        "days_past_due": 1,
        "overdue_amount": "9",
        "currency": "COP",
    }
    platform.publish(
        Envelope(
            id="c1", source="/t", type="cobranza.customer.upserted", time=t0, subject="A1", data=customer
        ),
        Topics.CUSTOMERS,
    )
    platform.run_until_quiet()
    platform.publish(
        Envelope(id="a1", source="/t", type="cobranza.account.aged", time=t0, subject="A1", data=aged),
        Topics.ACCOUNTS,
    )
    platform.run_until_quiet()
    platform.advance_to(datetime(2026, 1, 19, 12, tzinfo=BOG))  # Monday noon
    assert (tmp_path / "notifier" / "outbox").is_dir()
    sent = list((tmp_path / "notifier" / "outbox").glob("*.eml"))
    assert len(sent) == 1
    kpis = api_client(platform.context("reporting")).get("/v1/kpis/contacts").json()
    assert kpis == [{"channel": "email", "status": "sent", "contacts": 1}]
