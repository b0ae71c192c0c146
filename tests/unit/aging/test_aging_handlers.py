"""aging on the in-memory platform: bucket edges at local midnight, payments, reversals, lapses."""

from __future__ import annotations

from decimal import Decimal

from aging_helpers import at, emitted, invoice, payment_applied, reversal_applied, send
from sqlalchemy import select

from libs.events.catalog import Topics
from services.aging.adapters.orm import account_state, bucket_transitions, early_open_amounts, invoices

ISSUED = "cobranza.invoice.issued"
AGED = "cobranza.account.aged"


def aged(platform) -> list[dict]:
    return emitted(platform, Topics.ACCOUNTS, AGED)


def test_new_account_starts_current_without_event_and_ages_at_local_midnight(make_platform) -> None:
    platform = make_platform(["aging"])
    send(platform, ISSUED, invoice(), Topics.INVOICES)
    assert aged(platform) == []

    platform.advance_to(at("2026-01-21T04:59:59+00:00"))  # still Jan 20 in Bogotá
    assert aged(platform) == []
    platform.advance_to(at("2026-02-19T12:00:00+00:00"))
    events = aged(platform)
    assert [e["time"] for e in events] == ["2026-01-21T05:00:00Z"]
    assert events[0]["data"] == {
        "account_id": "A1",
        "bucket": "dpd_1_30",
        "days_past_due": 1,
        "overdue_amount": "100000.0000",
        "currency": "COP",
        "previous_bucket": "current",
        "stage": "early",
        "previous_stage": "current",
    }
    platform.advance_to(at("2026-02-20T05:00:00+00:00"))  # D+31
    events = aged(platform)
    assert [(e["data"]["bucket"], e["data"]["days_past_due"]) for e in events] == [
        ("dpd_1_30", 1),
        ("dpd_31_60", 31),
    ]
    with platform.context("aging").sessions() as session:
        state = session.execute(select(account_state)).one()
        assert (state.bucket, state.dpd) == ("dpd_31_60", 31)
        inv = session.execute(select(invoices.c.dpd)).scalar_one()
        assert inv == 31


def test_full_payment_returns_to_current_at_once_and_partial_payment_does_not(make_platform) -> None:
    platform = make_platform(["aging"])
    send(platform, ISSUED, invoice(), Topics.INVOICES)
    send(platform, ISSUED, invoice("I2", due_on="2026-02-20"), Topics.INVOICES)
    platform.advance_to(at("2026-02-01T10:00:00+00:00"))
    assert [e["data"]["bucket"] for e in aged(platform)] == ["dpd_1_30"]

    send(platform, "cobranza.payment.applied", payment_applied("A1", ("I1", "40000.00")), Topics.ALLOCATIONS)
    assert len(aged(platform)) == 1  # partially paid: still 12 DPD, same bucket, no event
    with platform.context("aging").sessions() as session:
        assert session.execute(select(account_state.c.overdue_amount)).scalar_one() == Decimal("40000")

    platform.clock.advance_to(at("2026-02-01T15:30:00+00:00"))
    send(platform, "cobranza.payment.applied", payment_applied("A1", ("I1", "0")), Topics.ALLOCATIONS)
    events = aged(platform)
    assert events[-1]["time"] == "2026-02-01T15:30:00Z"
    assert events[-1]["data"] == {
        "account_id": "A1",
        "bucket": "current",
        "days_past_due": 0,
        "overdue_amount": "0.0000",
        "currency": "COP",
        "previous_bucket": "dpd_1_30",
        "stage": "current",
        "previous_stage": "early",
    }

    # a bounced cheque reopens the invoice: back to the bucket its DPD says, straight away
    send(
        platform,
        "cobranza.payment.reversal_applied",
        reversal_applied("A1", ("I1", "60000.00")),
        Topics.ALLOCATIONS,
    )
    assert aged(platform)[-1]["data"]["bucket"] == "dpd_1_30"
    assert aged(platform)[-1]["data"]["days_past_due"] == 12

    with platform.context("aging").sessions() as session:
        moves = session.execute(
            select(
                bucket_transitions.c.from_bucket,
                bucket_transitions.c.to_bucket,
                bucket_transitions.c.transitioned_on,
            ).order_by(bucket_transitions.c.id)
        ).all()
    assert [(m[0], m[1], m[2].isoformat()) for m in moves] == [
        ("current", "dpd_1_30", "2026-01-21"),
        ("dpd_1_30", "current", "2026-02-01"),
        ("current", "dpd_1_30", "2026-02-01"),
    ]


def test_redelivered_payment_is_not_counted_twice(make_platform) -> None:
    platform = make_platform(["aging"])
    send(platform, ISSUED, invoice(), Topics.INVOICES)
    data = payment_applied("A1", ("I1", "70000.00"))
    send(platform, "cobranza.payment.applied", data, Topics.ALLOCATIONS)
    send(platform, "cobranza.payment.applied", data, Topics.ALLOCATIONS)  # a new delivery id, same content
    with platform.context("aging").sessions() as session:
        assert session.execute(select(invoices.c.open_amount)).scalar_one() == Decimal("70000")


def test_policy_lapse_is_scheduled_when_overdue_and_happens_at_local_midnight(make_platform) -> None:
    platform = make_platform(["aging"])
    send(platform, ISSUED, invoice(product_line="vida", policy_number="POL-9"), Topics.INVOICES)
    send(platform, ISSUED, invoice("I2", "A2", product_line="vida", policy_number="POL-10"), Topics.INVOICES)
    platform.advance_to(at("2026-01-22T00:00:00+00:00"))
    scheduled = emitted(platform, Topics.ACCOUNTS, "cobranza.policy.lapse_scheduled")
    assert [(e["data"]["policy_number"], e["data"]["lapse_on"], e["time"]) for e in scheduled] == [
        ("POL-9", "2026-02-19", "2026-01-21T05:00:00Z"),
        ("POL-10", "2026-02-19", "2026-01-21T05:00:00Z"),
    ]
    send(platform, "cobranza.payment.applied", payment_applied("A2", ("I2", "0")), Topics.ALLOCATIONS)
    cancelled = emitted(platform, Topics.ACCOUNTS, "cobranza.policy.lapse_cancelled")
    assert [(e["data"]["policy_number"], e["data"]["reason"]) for e in cancelled] == [("POL-10", "paid")]

    platform.advance_to(at("2026-02-19T04:59:00+00:00"))
    assert emitted(platform, Topics.ACCOUNTS, "cobranza.policy.lapsed") == []
    platform.advance_to(at("2026-02-20T00:00:00+00:00"))
    lapsed = emitted(platform, Topics.ACCOUNTS, "cobranza.policy.lapsed")
    assert [(e["data"]["policy_number"], e["time"]) for e in lapsed] == [("POL-9", "2026-02-19T05:00:00Z")]


def test_products_without_grace_have_no_lapse(make_platform) -> None:
    platform = make_platform(["aging"])
    send(
        platform, ISSUED, invoice(policy_number="POL-1"), Topics.INVOICES
    )  # cumplimiento: no grace configured
    platform.advance_to(at("2026-04-01T00:00:00+00:00"))
    assert emitted(platform, Topics.ACCOUNTS, "cobranza.policy.lapse_scheduled") == []
    assert len(aged(platform)) == 3


def test_multi_currency_accounts_age_per_currency(make_platform) -> None:
    platform = make_platform(["aging"])
    send(platform, ISSUED, invoice(), Topics.INVOICES)
    send(
        platform, ISSUED, invoice("I2", currency="USD", amount="50.00", due_on="2026-02-10"), Topics.INVOICES
    )
    platform.advance_to(at("2026-02-12T00:00:00+00:00"))
    events = [
        (e["data"]["currency"], e["data"]["bucket"], e["data"]["overdue_amount"]) for e in aged(platform)
    ]
    assert events == [("COP", "dpd_1_30", "100000.0000"), ("USD", "dpd_1_30", "50.0000")]
    with platform.context("aging").sessions() as session:
        states = session.execute(
            select(account_state.c.currency, account_state.c.dpd).order_by("currency")
        ).all()
    assert [tuple(s) for s in states] == [("COP", 22), ("USD", 1)]


def test_adjustment_and_cancellation_change_the_open_amount(make_platform) -> None:
    platform = make_platform(["aging"])
    send(platform, ISSUED, invoice(), Topics.INVOICES)
    platform.advance_to(at("2026-01-25T00:00:00+00:00"))
    send(platform, "cobranza.payment.applied", payment_applied("A1", ("I1", "60000.00")), Topics.ALLOCATIONS)
    adjusted = {
        "adjustment_id": "ADJ1",
        "invoice_id": "I1",
        "account_id": "A1",
        "new_amount": "150000.00",
        "currency": "COP",
        "reason": "endorsement",
        "effective_on": "2026-01-25",
        "new_due_on": "2026-02-15",
    }
    send(platform, "cobranza.invoice.adjusted", adjusted, Topics.INVOICES)
    with platform.context("aging").sessions() as session:
        row = session.execute(select(invoices.c.open_amount, invoices.c.dpd)).one()
    assert row.open_amount == Decimal("110000")  # 150000 billed - 40000 already paid
    assert row.dpd == 0  # due date moved to the future
    assert [e["data"]["bucket"] for e in aged(platform)] == ["dpd_1_30", "current"]

    platform.advance_to(at("2026-02-17T00:00:00+00:00"))
    assert aged(platform)[-1]["data"]["bucket"] == "dpd_1_30"
    cancelled = {
        "invoice_id": "I1",
        "account_id": "A1",
        "reason": "written_off",
        "cancelled_on": "2026-02-17",
    }
    send(platform, "cobranza.invoice.cancelled", cancelled, Topics.INVOICES)
    assert aged(platform)[-1]["data"]["bucket"] == "current"


def test_an_allocation_that_overtakes_its_invoice_waits_for_it(make_platform) -> None:
    """aging reads invoices and allocations independently: a payment seen first is not lost."""
    platform = make_platform(["aging"])
    send(platform, "cobranza.payment.applied", payment_applied("A1", ("I1", "30000.00")), Topics.ALLOCATIONS)
    send(platform, "cobranza.payment.applied", payment_applied("A1", ("I1", "0")), Topics.ALLOCATIONS)
    assert platform.broker.topics.get(Topics.DEAD_LETTER, []) == []
    with platform.context("aging").sessions() as session:
        waiting = session.execute(
            select(early_open_amounts.c.invoice_id, early_open_amounts.c.open_amount)
        ).all()
    assert [tuple(w) for w in waiting] == [("I1", Decimal("0"))]  # the latest allocation wins

    send(platform, ISSUED, invoice(), Topics.INVOICES)
    platform.advance_to(at("2026-02-01T10:00:00+00:00"))
    with platform.context("aging").sessions() as session:
        row = session.execute(select(invoices.c.amount, invoices.c.open_amount, invoices.c.dpd)).one()
        assert session.execute(select(early_open_amounts)).all() == []
    assert tuple(row) == (Decimal("100000"), Decimal("0"), 0)
    assert aged(platform) == []  # paid before it was due: it never leaves current


def test_an_adjustment_of_an_unknown_invoice_is_dead_lettered(make_platform) -> None:
    platform = make_platform(["aging"])
    adjusted = {
        "adjustment_id": "ADJ1",
        "invoice_id": "NOPE",
        "account_id": "A1",
        "new_amount": "1.00",
        "currency": "COP",
        "reason": "endorsement",
        "effective_on": "2026-01-25",
    }
    send(platform, "cobranza.invoice.adjusted", adjusted, Topics.INVOICES)
    letters = platform.broker.topics[Topics.DEAD_LETTER]
    assert len(letters) == 1
    assert "data.invoice_id" in letters[0].headers["dlq_reason"]


def test_two_tenants_with_the_same_ids_age_independently(make_platform) -> None:
    platform = make_platform(["aging"])
    send(platform, ISSUED, invoice(), Topics.INVOICES, tenant="aseguradora")
    send(platform, ISSUED, invoice(amount="70.00", currency="USD"), Topics.INVOICES, tenant="financiera")
    send(
        platform,
        "cobranza.payment.applied",
        payment_applied("A1", ("I1", "0")),
        Topics.ALLOCATIONS,
        tenant="aseguradora",
    )
    platform.advance_to(at("2026-01-22T00:00:00+00:00"))
    events = aged(platform)
    assert [(e["tenantid"], e["data"]["currency"], e["data"]["bucket"]) for e in events] == [
        ("financiera", "USD", "dpd_1_30")
    ]
    with platform.context("aging").sessions() as session:
        rows = session.execute(
            select(invoices.c.tenant_id, invoices.c.invoice_id, invoices.c.open_amount).order_by(
                invoices.c.tenant_id
            )
        ).all()
        states = session.execute(
            select(account_state.c.tenant_id, account_state.c.bucket).order_by(account_state.c.tenant_id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("aseguradora", "I1", Decimal("0")),
        ("financiera", "I1", Decimal("70")),
    ]
    assert [tuple(s) for s in states] == [("aseguradora", "current"), ("financiera", "dpd_1_30")]


def test_the_stage_comes_from_the_tenants_scheme_whatever_the_bucket_names(make_platform, tmp_path) -> None:
    (tmp_path / "aging.yaml").write_text(
        "buckets:\n"
        "  - {name: al_dia, min_dpd: 0, max_dpd: 0, stage: current}\n"
        "  - {name: mora_temprana, min_dpd: 1, max_dpd: 60, stage: early}\n"
        "  - {name: mora_tardia, min_dpd: 61, max_dpd: null, stage: late}\n",
        encoding="utf-8",
    )
    platform = make_platform(["aging"])
    platform.context("aging").extras["config_dir"] = tmp_path
    send(platform, ISSUED, invoice(), Topics.INVOICES)
    platform.advance_to(at("2026-01-22T00:00:00+00:00"))
    send(platform, "cobranza.payment.applied", payment_applied("A1", ("I1", "0")), Topics.ALLOCATIONS)
    moves = [
        (e["data"]["previous_bucket"], e["data"]["previous_stage"], e["data"]["bucket"], e["data"]["stage"])
        for e in aged(platform)
    ]
    assert moves == [
        ("al_dia", "current", "mora_temprana", "early"),
        ("mora_temprana", "early", "al_dia", "current"),
    ]


def test_nightly_timer_stops_when_nothing_is_open(make_platform) -> None:
    platform = make_platform(["aging"])
    send(platform, ISSUED, invoice(), Topics.INVOICES)
    assert platform.next_timer_at() == at("2026-01-01T05:00:00+00:00")
    send(platform, "cobranza.payment.applied", payment_applied("A1", ("I1", "0")), Topics.ALLOCATIONS)
    platform.advance_to(at("2026-01-03T00:00:00+00:00"))
    assert platform.next_timer_at() is None


def test_reasons_nobody_listed_are_processed_not_dead_lettered(make_platform) -> None:
    platform = make_platform(["aging"])
    send(platform, ISSUED, invoice(), Topics.INVOICES)
    send(platform, ISSUED, invoice("I2"), Topics.INVOICES)
    adjusted = {
        "adjustment_id": "ADJ1",
        "invoice_id": "I1",
        "account_id": "A1",
        "new_amount": "80000.00",
        "currency": "COP",
        "reason": "Endoso por cambio de placa",
        "effective_on": "2026-01-10",
    }
    send(platform, "cobranza.invoice.adjusted", adjusted, Topics.INVOICES)
    cancelled = {
        "invoice_id": "I2",
        "account_id": "A1",
        "reason": "ANULACIÓN-SINIESTRO",
        "cancelled_on": "2026-01-10",
    }
    send(platform, "cobranza.invoice.cancelled", cancelled, Topics.INVOICES)
    assert platform.broker.topics.get(Topics.DEAD_LETTER, []) == []
    with platform.context("aging").sessions() as session:
        rows = session.execute(select(invoices.c.invoice_id, invoices.c.open_amount, invoices.c.status)).all()
    assert sorted(tuple(r) for r in rows) == [
        ("I1", Decimal("80000"), "open"),
        ("I2", Decimal("0"), "cancelled"),
    ]
