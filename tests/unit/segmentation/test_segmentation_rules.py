"""The rules language: loading, validation errors that name the rule, evaluation order."""

from __future__ import annotations

import copy
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from services.segmentation.domain.rules import RuleSetError, parse_rules, parse_rules_yaml

DEFAULT_FILE = Path(__file__).parents[3] / "services" / "segmentation" / "config" / "segments.yaml"

DOC: dict[str, Any] = {
    "version": "t1",
    "rules": [
        {
            "name": "residual",
            "segment": "legal",
            "when": [{"attribute": "stage", "op": "eq", "value": "residual"}],
        },
        {
            "name": "early_big",
            "segment": "early_high",
            "when": [
                {"attribute": "stage", "op": "eq", "value": "early"},
                {"attribute": "overdue_balance", "op": "gte", "value": 1000000},
            ],
        },
        {
            "name": "early",
            "segment": "early_low",
            "when": [{"attribute": "stage", "op": "in", "value": ["early"]}],
        },
        {
            "name": "late_high_balance",
            "segment": "late",
            "when": [{"attribute": "overdue_balance", "op": "between", "value": [500000, 9000000]}],
        },
    ],
    "default": {"segment": "other"},
}


def problems_of(doc: object) -> list[str]:
    with pytest.raises(RuleSetError) as caught:
        parse_rules(doc)
    return caught.value.problems


def test_the_packaged_playbook_loads() -> None:
    rules = parse_rules_yaml(DEFAULT_FILE.read_text(encoding="utf-8"))
    assert rules.version == "2026.01"
    assert {
        "preventive",
        "early_low_value",
        "early_high_value",
        "late_company",
        "residual_legal",
        "hardship",
    } <= set(rules.segments)
    assert rules.segments[-1] == "unclassified"
    assert set(rules.channels) == {"email", "sms", "whatsapp", "letter", "voice", "external_agency", "legal"}


def test_unknown_attribute_names_the_rule_and_its_position() -> None:
    doc = copy.deepcopy(DOC)
    doc["rules"][3]["when"][0]["attribute"] = "balanse"
    assert problems_of(doc) == ["rules[3] 'late_high_balance': unknown attribute 'balanse'"]


def test_every_problem_is_reported_at_once() -> None:
    doc = copy.deepcopy(DOC)
    doc["rules"][0]["when"][0] = {"attribute": "stage", "op": "gte", "value": 3}
    doc["rules"][1]["when"][1]["value"] = "a lot"
    doc["rules"][3]["when"][0]["value"] = [9000000, 5]
    doc["rules"][2]["name"] = "residual"
    problems = problems_of(doc)
    assert problems == [
        "rules[0] 'residual': stage gte: operator 'gte' needs a numeric attribute",
        "rules[1] 'early_big': overdue_balance gte: value 'a lot' must be a number",
        "rules[2] 'residual': duplicate rule name (first at rules[0])",
        "rules[3] 'late_high_balance': overdue_balance between: low 9000000 is above high 5",
    ]


def test_shape_errors_name_the_rule_too() -> None:
    doc = copy.deepcopy(DOC)
    doc["rules"][1]["when"][0]["op"] = "greater"
    doc["rules"][2]["segmnt"] = "typo"
    problems = problems_of(doc)
    assert problems[0].startswith("rules[1] 'early_big': when.0.op: Input should be 'eq'")
    assert problems[1] == "rules[2] 'early': segmnt: Extra inputs are not permitted"


def test_a_default_segment_is_required_and_bands_must_cover_zero() -> None:
    doc = copy.deepcopy(DOC)
    del doc["default"]
    assert problems_of(doc) == ["default: Field required"]
    doc = copy.deepcopy(DOC)
    doc["score_bands"] = {"A": 0.7, "B": 0.3}
    assert problems_of(doc) == ["score_bands: the lowest band must start at 0 so every score has a band"]


def test_bad_yaml_is_a_rules_error() -> None:
    with pytest.raises(RuleSetError, match="<yaml>"):
        parse_rules_yaml("rules: [unclosed")


def test_first_matching_rule_wins_and_default_catches_the_rest() -> None:
    rules = parse_rules(DOC)
    big = rules.evaluate({"stage": "early", "overdue_balance": Decimal("2000000")})
    assert (big.segment, big.rule) == ("early_high", "early_big")
    assert big.attributes == {"stage": "early", "overdue_balance": Decimal("2000000")}
    assert rules.evaluate({"stage": "early", "overdue_balance": Decimal("10")}).segment == "early_low"
    assert rules.evaluate({"stage": "late", "overdue_balance": Decimal("600000")}).segment == "late"
    fallback = rules.evaluate({"stage": "current", "overdue_balance": Decimal(0)})
    assert (fallback.segment, fallback.rule) == ("other", "default")


def test_missing_values_match_only_is_null() -> None:
    rules = parse_rules(
        {
            "version": "n",
            "rules": [
                {
                    "name": "no_adv",
                    "segment": "orphan",
                    "when": [{"attribute": "advisor_id", "op": "is_null", "value": True}],
                },
                {
                    "name": "not_bog",
                    "segment": "regions",
                    "when": [{"attribute": "region", "op": "not_in", "value": ["Bogotá D.C."]}],
                },
                {
                    "name": "silent",
                    "segment": "silent",
                    "when": [{"attribute": "days_since_last_payment", "op": "gt", "value": 90}],
                },
            ],
            "default": {"segment": "rest"},
        }
    )
    assert rules.evaluate({"advisor_id": None, "region": "Antioquia"}).segment == "orphan"
    assert rules.evaluate({"advisor_id": "A1", "region": "Antioquia"}).segment == "regions"
    # an unknown region or a customer who never paid does not match not_in / gt
    assert (
        rules.evaluate({"advisor_id": "A1", "region": None, "days_since_last_payment": None}).segment
        == "rest"
    )
    assert (
        rules.evaluate({"advisor_id": "A1", "region": "Bogotá D.C.", "days_since_last_payment": 91}).segment
        == "silent"
    )


def test_score_bands_map_probabilities() -> None:
    rules = parse_rules(DOC)
    assert [rules.band_for(p) for p in (0.95, 0.8, 0.79, 0.41, 0.2, 0.0)] == ["A", "A", "B", "C", "D", "E"]


def test_the_column_wise_evaluation_picks_the_rule_the_row_by_row_evaluation_picks() -> None:
    """Every operator, numbers as int, Decimal and float (scores), missing values, boundaries."""
    rules = parse_rules(
        {
            "version": "ops",
            "rules": [
                {
                    "name": "nul",
                    "segment": "s0",
                    "when": [{"attribute": "region", "op": "is_null", "value": True}],
                },
                {
                    "name": "btw",
                    "segment": "s1",
                    "when": [
                        {"attribute": "score", "op": "between", "value": [0.3, 0.6]},
                        {"attribute": "stage", "op": "in", "value": ["early", "late"]},
                    ],
                },
                {
                    "name": "cmp",
                    "segment": "s2",
                    "when": [
                        {"attribute": "overdue_balance", "op": "gt", "value": "1000.5"},
                        {"attribute": "days_past_due", "op": "lte", "value": 30},
                        {"attribute": "bucket", "op": "ne", "value": "current"},
                    ],
                },
                {
                    "name": "eqn",
                    "segment": "s3",
                    "when": [
                        {"attribute": "broken_promises", "op": "eq", "value": 2},
                        {"attribute": "score", "op": "gte", "value": 0.5},
                    ],
                },
                {
                    "name": "nin",
                    "segment": "s4",
                    "when": [{"attribute": "stage", "op": "not_in", "value": ["current"]}],
                },
                {
                    "name": "lt",
                    "segment": "s5",
                    "when": [{"attribute": "days_since_last_payment", "op": "lt", "value": 10}],
                },
                {
                    "name": "in_n",
                    "segment": "s6",
                    "when": [{"attribute": "kept_promises", "op": "in", "value": [1, 3]}],
                },
            ],
            "default": {"segment": "rest"},
        }
    )
    packaged = parse_rules_yaml(DEFAULT_FILE.read_text(encoding="utf-8"))
    rng = random.Random(7)
    rows = [
        {
            "region": rng.choice([None, "Antioquia"]),
            "score": rng.choice([0.3, 0.6, 0.2999, 0.45, 0.5, 0.81, 0.1]),
            "score_band": rng.choice(["A", "C", "E"]),
            "stage": rng.choice(["early", "late", "current", "residual", None]),
            "overdue_balance": rng.choice(
                [Decimal("1000.5"), Decimal("1000.5001"), Decimal("2000000.0000"), 0]
            ),
            "days_past_due": rng.choice([0, 30, 31, 70, 200]),
            "bucket": rng.choice(["current", "dpd_1_30", None]),
            "broken_promises": rng.choice([0, 2, 3]),
            "kept_promises": rng.choice([0, 1, 2, 3]),
            "days_since_last_payment": rng.choice([None, 5, 10]),
            "customer_kind": rng.choice(["person", "company"]),
        }
        for _ in range(2000)
    ]
    for rule_set in (rules, packaged):
        picked = rule_set.evaluate_many(rows)
        assert [rule_set.match_of(i, row) for i, row in zip(picked, rows, strict=True)] == [
            rule_set.evaluate(row) for row in rows
        ]
    assert len(set(rules.evaluate_many(rows))) == len(rules.rules) + 1  # every rule and the default hit
