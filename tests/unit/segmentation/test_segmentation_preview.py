"""The what-if matrix: accounts and balances that would move between segments."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from services.segmentation.domain.attributes import AccountState
from services.segmentation.domain.rules import parse_rules
from services.segmentation.domain.segmenting import assign, preview

TODAY = date(2026, 3, 1)


def rules(threshold: int) -> dict[str, object]:
    return {
        "version": f"v{threshold}",
        "rules": [
            {
                "name": "big",
                "segment": "high_value",
                "when": [{"attribute": "overdue_balance", "op": "gte", "value": threshold}],
            },
            {
                "name": "late",
                "segment": "late",
                "when": [{"attribute": "stage", "op": "ne", "value": "current"}],
            },
        ],
        "default": {"segment": "current"},
    }


def state(account_id: str, overdue: int, bucket: str = "dpd_1_30") -> AccountState:
    return AccountState(
        account_id,
        "COP",
        total_balance=Decimal(overdue) * 2,
        overdue_balance=Decimal(overdue),
        bucket=bucket,
        days_past_due=5 if bucket != "current" else 0,
        aged_on=TODAY,
        score=0.5,
    )


def test_lowering_a_threshold_moves_the_accounts_between_the_old_and_new_one() -> None:
    accounts = [state("A", 500), state("B", 1500), state("C", 3000), state("D", 0, "current")]
    current = parse_rules(rules(2000))
    assigned = [(s, assign(s, TODAY, current).segment, TODAY) for s in accounts]
    assert [a[1] for a in assigned] == ["late", "late", "high_value", "current"]

    matrix = preview(assigned, parse_rules(rules(1000)))
    rows = {(r["from"], r["to"]): r for r in matrix.as_rows()}
    assert rows[("late", "high_value")] == {
        "from": "late",
        "to": "high_value",
        "accounts": 1,
        "overdue_balance": "1500",
        "total_balance": "3000",
    }
    assert rows[("late", "late")]["accounts"] == 1
    assert rows[("high_value", "high_value")]["accounts"] == 1
    totals = matrix.totals()
    assert (totals.accounts, totals.overdue_balance) == (1, Decimal(1500))


def test_accounts_never_segmented_come_from_none() -> None:
    matrix = preview([(state("A", 10), None, TODAY)], parse_rules(rules(1000)))
    assert matrix.as_rows()[0]["from"] is None and matrix.totals().accounts == 1


def test_reasons_carry_score_band_and_value() -> None:
    reason = assign(state("B", 1500), TODAY, parse_rules(rules(1000))).reason_attributes()
    assert reason["overdue_balance"] == "1500"
    assert reason["score"] == 0.5 and reason["score_band"] == "C"
    assert reason["expected_recovery"] == "750.00"
    assert reason["best_channel"] == "sms"
    assert "expected_net_value" in reason
