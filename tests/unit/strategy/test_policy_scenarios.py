"""Simulated debtors under their country's preset, every decision visible in the decision log.

* Colombia (Ley 2300): a Sunday and a festivo skipped, one channel a week, only the channels the
  debtor authorised, nothing after paying.
* United States (Regulation F): 08-21 local, no call within 7 days after a conversation, an SMS
  opt-out honoured at once.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from support.auth import api_client

from libs.events.catalog import Topics
from libs.events.envelope import Envelope

BOG = ZoneInfo("America/Bogota")
CHI = ZoneInfo("America/Chicago")
_seq = iter(range(1, 100_000))


def env(event_type: str, data: dict[str, Any], at: datetime, subject: str = "A1") -> Envelope:
    return Envelope(
        id=f"p{next(_seq)}",
        source="/core",
        type=event_type,
        time=at,
        subject=subject,
        data=data,
        tenantid="default",
    )


def customer(country: str, zone: str, channels: dict[str, bool]) -> dict[str, Any]:
    return {
        "customer_id": "C1",
        "account_ids": ["A1"],
        "name": "Ana",
        "kind": "person",
        "country": country,
        "timezone": zone,
        "contact_points": [
            {"channel": ch, "value": "ana@example.com" if ch == "email" else "+15555550100", "consent": ok}
            for ch, ok in channels.items()
        ],
    }


def aged(bucket: str, dpd: int, currency: str) -> dict[str, Any]:
    return {
        "account_id": "A1",
        "bucket": bucket,
        "stage": "current" if dpd == 0 else "early",
        "days_past_due": dpd,
        "overdue_amount": "0" if dpd == 0 else "100",
        "currency": currency,
    }


def due(platform) -> list[tuple[str, str, datetime]]:  # type: ignore[no-untyped-def]
    out = []
    for p in platform.broker.topics.get(Topics.CONTACTS, []):
        body = json.loads(p.record.value or b"")
        if body["type"] == "cobranza.contact.due":
            d = body["data"]
            out.append((d["step"], d["channel"], datetime.fromisoformat(d["scheduled_for"])))
    return out


def test_colombian_debtor_hours_sundays_holidays_one_channel_a_week_consent_and_nothing_after_paying(
    make_platform,  # type: ignore[no-untyped-def]
) -> None:
    platform = make_platform(["strategy"])
    entered = datetime(2026, 3, 22, 10, tzinfo=BOG)  # a Sunday; Monday 23 is San José (festivo)
    platform.advance_to(entered)
    consents = {"email": True, "sms": True, "voice": False}  # no record at all for letters
    platform.publish(
        env("cobranza.customer.upserted", customer("CO", "America/Bogota", consents), entered, "C1"),
        Topics.CUSTOMERS,
    )
    platform.run_until_quiet()
    platform.publish(env("cobranza.account.aged", aged("dpd_1_30", 1, "COP"), entered), Topics.ACCOUNTS)
    platform.run_until_quiet()
    platform.advance_to(datetime(2026, 3, 31, 12, tzinfo=BOG))
    sent = due(platform)
    assert [(s, ch) for s, ch, _ in sent] == [("aviso_mora", "email"), ("sms_mora", "sms")]
    assert sent[0][2] == datetime(2026, 3, 24, 7, tzinfo=BOG)  # past Sunday and the festivo
    assert sent[1][2] == datetime(2026, 3, 30, 7, tzinfo=BOG)  # Sunday 29 -> Monday, a new week
    for _, _, at in sent:
        local = at.astimezone(BOG)
        assert local.weekday() != 6 and 7 <= local.hour < 19

    # paid and current: nothing more, whatever the playbook still had
    paid = datetime(2026, 3, 31, 12, tzinfo=BOG)
    platform.publish(env("cobranza.account.aged", aged("current", 0, "COP"), paid), Topics.ACCOUNTS)
    platform.run_until_quiet()
    platform.advance_to(datetime(2026, 6, 1, tzinfo=BOG))
    assert len(due(platform)) == 2

    client = api_client(platform.context("strategy"))
    log = client.get("/v1/accounts/A1/decisions").json()
    moved = [d for d in log if d["kind"] == "moved"]
    assert moved[0]["detail"]["to"] == datetime(2026, 3, 24, 7, tzinfo=BOG).isoformat()
    assert {"ley_2300.sunday", "ley_2300.holiday"} <= set(moved[0]["detail"]["rules"])
    assert [d["channel"] for d in log if d["kind"] == "scheduled"] == ["email", "sms"]
    # the call was never authorised (consent false) and nothing more went out after paying
    assert all(d["channel"] != "voice" or d["kind"] != "scheduled" for d in log)
    assert [d["at"] for d in log] == sorted(d["at"] for d in log)


def test_us_debtor_eight_to_nine_local_quiet_after_a_conversation_and_sms_opt_out_at_once(
    make_platform,  # type: ignore[no-untyped-def]
) -> None:
    platform = make_platform(["strategy"])
    entered = datetime(2026, 3, 2, 22, tzinfo=CHI)  # Monday 22:00 in Chicago
    platform.advance_to(entered)
    consents = {"email": True, "sms": True, "voice": True}
    platform.publish(
        env("cobranza.customer.upserted", customer("US", "America/Chicago", consents), entered, "C1"),
        Topics.CUSTOMERS,
    )
    platform.run_until_quiet()
    platform.publish(env("cobranza.account.aged", aged("dpd_1_30", 1, "USD"), entered), Topics.ACCOUNTS)
    platform.run_until_quiet()
    platform.advance_to(entered + timedelta(hours=1))
    assert due(platform) == [("aviso_mora", "email", datetime(2026, 3, 3, 8, tzinfo=CHI))]

    # STOP by SMS on Thursday: the SMS step of day 7 is suppressed at once, never announced
    stop = datetime(2026, 3, 5, 12, tzinfo=CHI)
    platform.advance_to(stop)
    opt_out = {"account_id": "A1", "channel": "sms", "occurred_at": stop.isoformat(), "source": "stop_reply"}
    platform.publish(env("cobranza.contact.opted_out", opt_out, stop), Topics.CONTACTS)
    platform.run_until_quiet()
    client = api_client(platform.context("strategy"))
    [planned_sms] = [c for c in client.get("/v1/accounts/A1/contacts").json() if c["channel"] == "sms"]
    assert (planned_sms["status"], planned_sms["reason"]) == ("skipped", "opted out of sms")

    # a telephone conversation on Thursday 12th: the call of day 14 (Monday 16th) waits 7 days
    talked = datetime(2026, 3, 12, 10, tzinfo=CHI)
    platform.advance_to(talked)
    outcome = {
        "contact_id": "agent-call-1",
        "account_id": "A1",
        "channel": "voice",
        "status": "answered",
        "occurred_at": talked.isoformat(),
    }
    platform.publish(env("cobranza.contact.outcome", outcome, talked), Topics.CONTACTS)
    platform.run_until_quiet()
    platform.advance_to(datetime(2026, 3, 25, tzinfo=CHI))
    sent = due(platform)
    assert [(s, ch) for s, ch, _ in sent] == [("aviso_mora", "email"), ("llamada", "voice")]
    assert sent[1][2] == talked + timedelta(days=7)
    for _, _, at in sent:
        assert 8 <= at.astimezone(CHI).hour < 21

    log = client.get("/v1/accounts/A1/decisions").json()
    rules = [d["detail"].get("rule") for d in log if d["kind"] in ("moved", "suppressed")]
    assert "reg_f.hours" in rules and "reg_f.after_conversation" in rules
    assert "consent.opted_out" in rules
    suppressed = [d for d in log if d["kind"] == "suppressed" and d["channel"] == "sms"]
    assert {d["contact_id"] for d in suppressed} == {None, planned_sms["contact_id"]}
    assert all(datetime.fromisoformat(d["at"]) == stop for d in suppressed)


def test_an_opt_out_stands_until_a_consent_given_after_it(make_platform) -> None:  # type: ignore[no-untyped-def]
    """A core system re-sending its old record (consent true) does not undo a STOP reply."""
    from sqlalchemy import select

    from services.strategy.adapters.orm import consents as consent_rows

    platform = make_platform(["strategy"])
    start = datetime(2026, 3, 2, 10, tzinfo=BOG)
    platform.advance_to(start)
    record = customer("CO", "America/Bogota", {"email": True, "sms": True})
    platform.publish(env("cobranza.customer.upserted", record, start, "C1"), Topics.CUSTOMERS)
    platform.run_until_quiet()
    stop = start + timedelta(hours=2)
    platform.advance_to(stop)
    opt_out = {"account_id": "A1", "channel": "sms", "occurred_at": stop.isoformat(), "source": "stop_reply"}
    platform.publish(env("cobranza.contact.opted_out", opt_out, stop), Topics.CONTACTS)
    platform.run_until_quiet()

    def consent() -> dict[str, bool]:
        with platform.context("strategy").sessions() as session:
            rows = session.execute(select(consent_rows.c.channel, consent_rows.c.consent)).all()
        return {r.channel: r.consent for r in rows}

    assert consent() == {"email": True, "sms": False}
    platform.advance_to(stop + timedelta(hours=1))
    platform.publish(
        env("cobranza.customer.upserted", record, stop + timedelta(hours=1), "C1"), Topics.CUSTOMERS
    )
    platform.run_until_quiet()
    assert consent() == {"email": True, "sms": False}  # the old consent, re-sent: still opted out

    again = stop + timedelta(days=1)
    platform.advance_to(again)
    renewed = customer("CO", "America/Bogota", {"email": True, "sms": True})
    for point in renewed["contact_points"]:
        point["consent_updated_at"] = again.isoformat()
    platform.publish(env("cobranza.customer.upserted", renewed, again, "C1"), Topics.CUSTOMERS)
    platform.run_until_quiet()
    assert consent() == {"email": True, "sms": True}  # consented again after the opt-out
