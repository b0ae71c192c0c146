"""segmentation's handlers on the in-memory platform with a real Postgres."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from segmentation_helpers import INVOICE, aged, applied, broken, changes, envelope, reversal_applied
from sqlalchemy import select

from libs.events.catalog import Topics
from services.segmentation.adapters.orm import accounts, invoices, payments, segment_history


def test_first_invoice_assigns_a_segment_and_announces_it(make_platform) -> None:
    platform = make_platform(["segmentation"])
    platform.publish(envelope("cobranza.invoice.issued", INVOICE, "inv-1"), Topics.INVOICES)
    platform.publish(envelope("cobranza.invoice.issued", INVOICE, "inv-1"), Topics.INVOICES)  # redelivered
    platform.run_until_quiet()

    events = changes(platform)
    assert len(events) == 1
    event = events[0]
    assert event["type"] == "cobranza.segment.changed" and event["subject"] == "A1"
    data = event["data"]
    assert data["segment"] == "current_good" and "previous_segment" not in data
    attributes = data["reasons"][0]["attributes"]
    assert data["reasons"][0]["rule"] == "current_good"
    assert attributes["stage"] == "current"
    assert attributes["score_band"] == "A" and attributes["best_channel"] is None
    with platform.context("segmentation").sessions() as session:
        row = session.execute(select(accounts)).one()
    assert row.total_balance == Decimal("300000.0000")
    assert (row.product_line, row.region, row.advisor_id, row.customer_kind) == (
        "autos",
        "Antioquia",
        "ASE-7",
        "person",
    )
    assert row.score_source == "fallback" and row.rules_version == "2026.01"


def test_aging_and_broken_promises_move_the_account_through_the_playbook(make_platform) -> None:
    platform = make_platform(["segmentation"])
    platform.publish(envelope("cobranza.invoice.issued", INVOICE), Topics.INVOICES)
    platform.run_until_quiet()
    platform.publish(aged("dpd_1_30", 1, "300000"), Topics.ACCOUNTS)
    platform.run_until_quiet()
    platform.publish(aged("dpd_61_90", 61, "300000"), Topics.ACCOUNTS)
    platform.run_until_quiet()
    for n in range(3):
        platform.publish(broken(f"P{n}"), Topics.PROMISES)
    platform.run_until_quiet()

    moves = [(c["data"].get("previous_segment"), c["data"]["segment"]) for c in changes(platform)]
    assert moves[:2] == [(None, "current_good"), ("current_good", "early_low_value")]
    assert moves[2][1] in ("late_person", "late_person_agency")
    assert moves[-1] == (moves[2][1], "hardship")
    last = changes(platform)[-1]["data"]["reasons"][0]
    assert (
        last["attributes"]["broken_promises"] == 3 and last["attributes"]["best_channel"] == "external_agency"
    )
    with platform.context("segmentation").sessions() as session:
        history = (
            session.execute(select(segment_history.c.segment).order_by(segment_history.c.id)).scalars().all()
        )
    assert history == [m[1] for m in moves]


def test_no_event_when_the_segment_does_not_change(make_platform) -> None:
    platform = make_platform(["segmentation"])
    platform.publish(envelope("cobranza.invoice.issued", INVOICE), Topics.INVOICES)
    platform.publish(envelope("cobranza.invoice.issued", dict(INVOICE, invoice_id="I2")), Topics.INVOICES)
    platform.run_until_quiet()
    assert len(changes(platform)) == 1
    with platform.context("segmentation").sessions() as session:
        assert session.execute(select(accounts.c.total_balance)).scalar_one() == Decimal("600000.0000")


def test_facts_before_the_first_invoice_are_kept_but_not_segmented(make_platform) -> None:
    platform = make_platform(["segmentation"])
    platform.publish(aged("dpd_31_60", 31, "2500000"), Topics.ACCOUNTS)
    platform.run_until_quiet()
    assert changes(platform) == []
    platform.publish(envelope("cobranza.invoice.issued", dict(INVOICE, amount="2500000")), Topics.INVOICES)
    platform.run_until_quiet()
    assert [c["data"]["segment"] for c in changes(platform)] == ["early_high_value"]


def test_payments_record_on_time_history_and_adjustments_change_balances(make_platform) -> None:
    platform = make_platform(["segmentation"])
    platform.publish(envelope("cobranza.invoice.issued", INVOICE), Topics.INVOICES)
    platform.publish(
        envelope(
            "cobranza.invoice.adjusted",
            {
                "adjustment_id": "ADJ1",
                "invoice_id": "I1",
                "account_id": "A1",
                "new_amount": "250000",
                "currency": "COP",
                "reason": "discount",
                "effective_on": "2025-12-05",
            },
        ),
        Topics.INVOICES,
    )
    pay = {
        "payment_id": "PAY1",
        "account_id": "A1",
        "amount": "100000",
        "currency": "COP",
        "received_on": "2025-12-10",
    }
    platform.publish(envelope("cobranza.payment.received", pay), Topics.PAYMENTS)
    platform.run_until_quiet()
    with platform.context("segmentation").sessions() as session:
        assert session.execute(select(accounts.c.total_balance)).scalar_one() == Decimal("250000.0000")
    platform.publish(
        envelope("cobranza.payment.applied", applied("PAY1", ("I1", "150000"))), Topics.ALLOCATIONS
    )
    platform.run_until_quiet()
    platform.publish(aged("dpd_1_30", 1, "150000"), Topics.ACCOUNTS)
    platform.run_until_quiet()
    late = dict(pay, payment_id="PAY2", received_on="2025-12-28")
    platform.publish(envelope("cobranza.payment.received", late), Topics.PAYMENTS)
    platform.publish(
        envelope("cobranza.payment.applied", applied("PAY2", ("I1", "50000"), applied_on="2025-12-28")),
        Topics.ALLOCATIONS,
    )
    platform.run_until_quiet()
    with platform.context("segmentation").sessions() as session:
        on_time = dict(session.execute(select(payments.c.payment_id, payments.c.on_time)).all())
        row = session.execute(select(accounts)).one()
    assert on_time == {"PAY1": True, "PAY2": False}
    assert row.total_balance == Decimal("50000.0000")

    platform.publish(
        envelope("cobranza.payment.reversal_applied", reversal_applied("PAY2", ("I1", "150000"))),
        Topics.ALLOCATIONS,
    )
    platform.run_until_quiet()
    with platform.context("segmentation").sessions() as session:
        assert session.execute(select(accounts.c.total_balance)).scalar_one() == Decimal("150000.0000")
    assert str(row.last_payment_on) == "2025-12-28"

    platform.publish(
        envelope(
            "cobranza.payment.reversed",
            {
                "payment_id": "PAY2",
                "account_id": "A1",
                "reversed_on": "2025-12-30",
                "reason": "bounced_cheque",
            },
        ),
        Topics.PAYMENTS,
    )
    platform.publish(
        envelope(
            "cobranza.invoice.cancelled",
            {
                "invoice_id": "I1",
                "account_id": "A1",
                "reason": "policy_cancelled",
                "cancelled_on": "2025-12-31",
            },
        ),
        Topics.INVOICES,
    )
    platform.run_until_quiet()
    with platform.context("segmentation").sessions() as session:
        row = session.execute(select(accounts)).one()
    assert str(row.last_payment_on) == "2025-12-10"
    assert row.total_balance == Decimal(0) and row.first_issued_on is None


def test_invalid_facts_are_dead_lettered_with_the_reason(make_platform) -> None:
    platform = make_platform(["segmentation"])
    platform.publish(envelope("cobranza.invoice.issued", INVOICE), Topics.INVOICES)
    platform.publish(
        envelope(
            "cobranza.invoice.cancelled",
            {"invoice_id": "NOPE", "account_id": "A1", "reason": "other", "cancelled_on": "2025-12-31"},
        ),
        Topics.INVOICES,
    )
    platform.run_until_quiet()
    reasons = [p.headers["dlq_reason"] for p in platform.broker.topics[Topics.DEAD_LETTER]]
    assert len(reasons) == 1
    assert "invoice_id: invoice NOPE of account A1 was never issued" in reasons[0]


def test_an_account_is_profiled_in_the_currency_of_its_worst_delinquency(make_platform) -> None:
    platform = make_platform(["segmentation"])
    platform.publish(envelope("cobranza.invoice.issued", INVOICE), Topics.INVOICES)
    platform.publish(
        envelope("cobranza.invoice.issued", dict(INVOICE, invoice_id="I9", currency="USD", amount="80")),
        Topics.INVOICES,
    )
    platform.run_until_quiet()
    platform.publish(
        envelope(
            "cobranza.account.aged",
            {
                "account_id": "A1",
                "bucket": "dpd_91_180",
                "days_past_due": 95,
                "overdue_amount": "80",
                "currency": "USD",
            },
        ),
        Topics.ACCOUNTS,
    )
    platform.run_until_quiet()
    assert Topics.DEAD_LETTER not in platform.broker.topics or not platform.broker.topics[Topics.DEAD_LETTER]
    with platform.context("segmentation").sessions() as session:
        row = session.execute(select(accounts)).one()
        stored = (
            session.execute(select(invoices.c.invoice_id).order_by(invoices.c.invoice_id)).scalars().all()
        )
    assert stored == ["I1", "I9"]
    # 95 dpd in USD is worse than a current COP: the USD balance and bucket decide
    assert (row.currency, row.total_balance, row.bucket) == ("USD", Decimal("80.0000"), "dpd_91_180")
    assert row.currencies["COP"]["bucket"] == "current"
    assert row.currencies["USD"]["days_past_due"] == 95
    assert changes(platform)[-1]["data"]["segment"] == "late_person"


def test_a_config_dir_with_segments_yaml_replaces_the_packaged_rules(make_platform, tmp_path: Path) -> None:
    (tmp_path / "segments.yaml").write_text(
        "version: sim-1\nrules:\n  - name: autos\n    segment: autos_portfolio\n    when:\n"
        "      - {attribute: product_line, op: eq, value: autos}\ndefault: {segment: others}\n",
        encoding="utf-8",
    )
    platform = make_platform(["segmentation"])
    platform.context("segmentation").extras["config_dir"] = tmp_path
    platform.publish(envelope("cobranza.invoice.issued", INVOICE), Topics.INVOICES)
    platform.run_until_quiet()
    assert [c["data"]["segment"] for c in changes(platform)] == ["autos_portfolio"]


def test_a_payment_matched_later_by_reconciliation_is_counted_once(make_platform) -> None:
    platform = make_platform(["segmentation"])
    platform.publish(envelope("cobranza.invoice.issued", INVOICE), Topics.INVOICES)
    unidentified = {
        "payment_id": "BANK-9",
        "amount": "300000",
        "currency": "COP",
        "received_on": "2025-12-12",
    }
    platform.publish(envelope("cobranza.payment.received", unidentified), Topics.PAYMENTS)
    applied = {
        "payment_id": "BANK-9",
        "account_id": "A1",
        "currency": "COP",
        "amount_applied": "300000",
        "allocations": [{"invoice_id": "I1", "amount": "300000", "invoice_open_amount_after": "0"}],
        "credit_balance_after": "0",
        "rule": "normalized_reference",
        "applied_on": "2025-12-13",
    }
    platform.publish(envelope("cobranza.payment.applied", applied), Topics.ALLOCATIONS)
    platform.publish(
        envelope("cobranza.payment.applied", applied), Topics.ALLOCATIONS
    )  # a new event id, same payment
    platform.run_until_quiet()
    with platform.context("segmentation").sessions() as session:
        row = session.execute(select(accounts)).one()
        count = len(session.execute(select(payments.c.payment_id)).all())
    assert count == 1
    assert row.total_balance == Decimal(0) and str(row.last_payment_on) == "2025-12-13"


def test_two_tenants_with_the_same_ids_are_independent(make_platform) -> None:
    platform = make_platform(["segmentation"])
    for tenant, amount in (("aseguradora", "300000.00"), ("financiera", "2500000.00")):
        platform.publish(
            envelope("cobranza.invoice.issued", dict(INVOICE, amount=amount), "inv-1", tenant=tenant),
            Topics.INVOICES,
        )
    platform.run_until_quiet()
    pay = {
        "payment_id": "PAY1",
        "account_id": "A1",
        "amount": "300000",
        "currency": "COP",
        "received_on": "2025-12-10",
    }
    platform.publish(envelope("cobranza.payment.received", pay, tenant="aseguradora"), Topics.PAYMENTS)
    platform.publish(
        envelope("cobranza.payment.applied", applied("PAY1", ("I1", "0")), tenant="aseguradora"),
        Topics.ALLOCATIONS,
    )
    # the default tenant: no such account yet
    platform.publish(aged("dpd_31_60", 31, "2500000"), Topics.ACCOUNTS)
    platform.run_until_quiet()
    with platform.context("segmentation").sessions() as session:
        rows = session.execute(
            select(accounts.c.tenant_id, accounts.c.total_balance, accounts.c.bucket).order_by(
                accounts.c.tenant_id
            )
        ).all()
        paid = session.execute(select(payments.c.tenant_id, payments.c.payment_id)).all()
    assert [tuple(r) for r in rows] == [
        ("aseguradora", Decimal(0), "current"),
        ("default", Decimal(0), "dpd_31_60"),
        ("financiera", Decimal("2500000.0000"), "current"),
    ]
    assert [tuple(p) for p in paid] == [("aseguradora", "PAY1")]
    announced = sorted((c["tenantid"], c["data"]["segment"]) for c in changes(platform))
    assert announced == [("aseguradora", "current_good"), ("financiera", "current_good")]


def test_a_customer_keyed_by_customer_id_reaches_every_account_it_names(make_platform) -> None:
    platform = make_platform(["segmentation"])
    for account_id in ("A1", "A2"):
        data = dict(INVOICE, invoice_id=f"I-{account_id}", account_id=account_id)
        platform.publish(envelope("cobranza.invoice.issued", data), Topics.INVOICES)
        platform.publish(envelope("cobranza.invoice.issued", data, tenant="otra"), Topics.INVOICES)
    platform.run_until_quiet()
    customer = {
        "customer_id": "C1",
        "account_ids": ["A1", "A2", "A-NOT-YET"],
        "name": "Ana Gómez S.A.S.",
        "kind": "company",
        "country": "CO",
        "timezone": "America/Bogota",
        "region": "Valle del Cauca",
    }
    # the customers topic is keyed (and the envelope subject set) by customer id, not by account
    platform.publish(envelope("cobranza.customer.upserted", customer, subject="C1"), Topics.CUSTOMERS)
    platform.run_until_quiet()
    with platform.context("segmentation").sessions() as session:
        rows = session.execute(
            select(
                accounts.c.tenant_id, accounts.c.account_id, accounts.c.customer_kind, accounts.c.region
            ).order_by(accounts.c.tenant_id, accounts.c.account_id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("default", "A1", "company", "Valle del Cauca"),
        ("default", "A2", "company", "Valle del Cauca"),
        ("otra", "A1", "person", "Antioquia"),
        ("otra", "A2", "person", "Antioquia"),
    ]
    assert Topics.DEAD_LETTER not in platform.broker.topics


def test_the_stage_aging_announces_wins_over_bucket_names(make_platform) -> None:
    """A tenant whose scheme calls its buckets al_dia / mora_temprana still gets its stage and on-time payments."""
    platform = make_platform(["segmentation"])
    platform.publish(envelope("cobranza.invoice.issued", INVOICE), Topics.INVOICES)
    platform.run_until_quiet()
    late = aged("mora_temprana", 5, "300000")
    late.data.update(stage="early", previous_bucket="al_dia", previous_stage="current")
    platform.publish(late, Topics.ACCOUNTS)
    platform.run_until_quiet()
    assert changes(platform)[-1]["data"]["reasons"][0]["attributes"]["stage"] == "early"
    cured = aged("al_dia", 0, "0")
    cured.data.update(stage="current", previous_bucket="mora_temprana", previous_stage="early")
    platform.publish(cured, Topics.ACCOUNTS)
    platform.run_until_quiet()
    pay = {
        "payment_id": "PAY1",
        "account_id": "A1",
        "amount": "1000",
        "currency": "COP",
        "received_on": "2025-12-10",
    }
    platform.publish(envelope("cobranza.payment.received", pay), Topics.PAYMENTS)
    platform.run_until_quiet()
    with platform.context("segmentation").sessions() as session:
        row = session.execute(select(accounts.c.bucket, accounts.c.stage)).one()
        on_time = session.execute(select(payments.c.on_time)).scalar_one()
    assert tuple(row) == ("al_dia", "current")
    assert on_time is True
    assert changes(platform)[-1]["data"]["reasons"][0]["attributes"]["stage"] == "current"


def test_labels_nobody_listed_are_counted_not_dead_lettered(make_platform) -> None:
    platform = make_platform(["segmentation"])
    platform.publish(envelope("cobranza.invoice.issued", INVOICE), Topics.INVOICES)
    for n, method in enumerate(("nequi", "Transferencia", "PSE")):
        pay = {
            "payment_id": f"PAY{n}",
            "account_id": "A1",
            "amount": "10000",
            "currency": "COP",
            "received_on": "2025-12-10",
            "method": method,
        }
        platform.publish(envelope("cobranza.payment.received", pay), Topics.PAYMENTS)
    reversal = {
        "payment_id": "PAY0",
        "account_id": "A1",
        "reversed_on": "2025-12-11",
        "reason": "Devolución R99",
    }
    platform.publish(envelope("cobranza.payment.reversed", reversal), Topics.PAYMENTS)
    adjusted = {
        "adjustment_id": "ADJ1",
        "invoice_id": "I1",
        "account_id": "A1",
        "new_amount": "250000",
        "currency": "COP",
        "reason": "recálculo actuarial",
        "effective_on": "2025-12-05",
    }
    platform.publish(envelope("cobranza.invoice.adjusted", adjusted), Topics.INVOICES)
    platform.run_until_quiet()
    assert not platform.broker.topics.get(Topics.DEAD_LETTER)
    with platform.context("segmentation").sessions() as session:
        counted = dict(session.execute(select(payments.c.payment_id, payments.c.reversed)).all())
        row = session.execute(select(accounts)).one()
    assert counted == {"PAY0": True, "PAY1": False, "PAY2": False}
    assert row.total_balance == Decimal("250000.0000")  # received, not yet applied by reconciliation


def test_the_balance_is_reconciliations_credit_shows_and_allocations_may_come_first(make_platform) -> None:
    platform = make_platform(["segmentation"])
    # reconciliation applied I2 before segmentation saw it issued (independent topics)
    platform.publish(
        envelope("cobranza.payment.applied", applied("EARLY", ("I2", "100000"))), Topics.ALLOCATIONS
    )
    platform.run_until_quiet()
    platform.publish(envelope("cobranza.invoice.issued", INVOICE), Topics.INVOICES)
    platform.publish(envelope("cobranza.invoice.issued", dict(INVOICE, invoice_id="I2")), Topics.INVOICES)
    platform.run_until_quiet()
    with platform.context("segmentation").sessions() as session:
        assert session.execute(select(accounts.c.total_balance)).scalar_one() == Decimal("400000.0000")
    # an over-payment: both invoices closed, 50000 left as credit, shown as a negative balance
    over = applied("OVER", ("I1", "0"), ("I2", "0"), credit_after="50000")
    platform.publish(envelope("cobranza.payment.applied", over), Topics.ALLOCATIONS)
    platform.publish(envelope("cobranza.payment.applied", over), Topics.ALLOCATIONS)  # redelivered
    platform.run_until_quiet()
    with platform.context("segmentation").sessions() as session:
        row = session.execute(select(accounts.c.total_balance, accounts.c.credit_balance)).one()
    assert tuple(row) == (Decimal("-50000.0000"), Decimal("50000.0000"))
    assert not platform.broker.topics.get(Topics.DEAD_LETTER)
