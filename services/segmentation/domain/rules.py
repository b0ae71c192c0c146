"""The segment rules language: ordered rules over account attributes, first match wins.

A rules document is data (YAML in git, JSON over the API) with a version. It is
validated in two passes: pydantic checks the shape, then every condition is
checked against the attribute catalogue and its operator's value type. Every
problem is reported with the rule it belongs to, e.g.
``rules[3] 'late_high_balance': unknown attribute 'balanse'``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.segmentation.domain.attributes import ATTRIBUTES
from services.segmentation.domain.value import ChannelCost

Operator = Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "is_null"]
NUMERIC_OPERATORS = {"gt", "gte", "lt", "lte", "between"}
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"


class RuleSetError(ValueError):
    """A rules document that cannot be activated; ``problems`` lists each one by rule."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConditionDoc(_Strict):
    attribute: str
    op: Operator
    value: Any = None


class RuleDoc(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    segment: str = Field(pattern=NAME_PATTERN)
    description: str = Field(default="", max_length=500)
    when: list[ConditionDoc] = Field(min_length=1)


class DefaultDoc(_Strict):
    segment: str = Field(pattern=NAME_PATTERN)
    description: str = Field(default="", max_length=500)


class RuleSetDoc(_Strict):
    version: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=2000)
    score_bands: dict[str, float] = Field(
        default_factory=lambda: {"A": 0.8, "B": 0.6, "C": 0.4, "D": 0.2, "E": 0.0},
        description="band -> lowest probability of payment in it",
    )
    channels: dict[str, ChannelCost] = Field(default_factory=dict)
    rules: list[RuleDoc] = Field(min_length=1)
    default: DefaultDoc


@dataclass(frozen=True)
class Condition:
    attribute: str
    op: str
    value: Any

    def matches(self, attributes: Mapping[str, Any]) -> bool:
        actual = attributes.get(self.attribute)
        if self.op == "is_null":
            return (actual is None) == bool(self.value)
        if actual is None:
            return False
        if self.op == "eq":
            return bool(actual == self.value)
        if self.op == "ne":
            return bool(actual != self.value)
        if self.op == "in":
            return actual in self.value
        if self.op == "not_in":
            return actual not in self.value
        number = Decimal(str(actual))
        if self.op == "gt":
            return number > self.value
        if self.op == "gte":
            return number >= self.value
        if self.op == "lt":
            return number < self.value
        if self.op == "lte":
            return number <= self.value
        low, high = self.value
        return bool(low <= number <= high)

    @property
    def numeric(self) -> bool:
        """Whether the test reads the value as a number (``Decimal(str(actual))``), as ``matches`` does."""
        return self.op in NUMERIC_OPERATORS

    def test(self) -> Callable[[Any], bool]:
        """``matches`` for one already-looked-up value (a number for the numeric operators)."""
        value, op = self.value, self.op
        if op == "is_null":
            wanted = bool(value)
            return lambda v: (v is None) == wanted
        if op == "eq":
            return lambda v: v is not None and bool(v == value)
        if op == "ne":
            return lambda v: v is not None and bool(v != value)
        if op == "in":
            return lambda v: v is not None and v in value
        if op == "not_in":
            return lambda v: v is not None and v not in value
        if op == "gt":
            return lambda v: v is not None and v > value
        if op == "gte":
            return lambda v: v is not None and v >= value
        if op == "lt":
            return lambda v: v is not None and v < value
        if op == "lte":
            return lambda v: v is not None and v <= value
        low, high = value
        return lambda v: v is not None and bool(low <= v <= high)

    def describe(self) -> str:
        return f"{self.attribute} {self.op} {self.value!r}"


def _as_number(value: Any) -> Any:
    """What ``Condition.matches`` compares a numeric operator against: ``Decimal(str(value))``."""
    if value is None or type(value) is Decimal:
        return value
    return Decimal(str(value))


@dataclass(frozen=True)
class Rule:
    name: str
    segment: str
    description: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Match:
    segment: str
    rule: str
    description: str
    attributes: dict[str, Any]
    """The attribute values the rule tested (for the segment reasons)."""


@dataclass(frozen=True)
class RuleSet:
    version: str
    rules: tuple[Rule, ...]
    default_segment: str
    default_description: str
    score_bands: tuple[tuple[str, float], ...]
    channels: dict[str, ChannelCost]
    document: dict[str, Any]
    checksum: str

    @property
    def segments(self) -> list[str]:
        names = [r.segment for r in self.rules]
        names.append(self.default_segment)
        return list(dict.fromkeys(names))

    def evaluate(self, attributes: Mapping[str, Any]) -> Match:
        for rule in self.rules:
            if all(c.matches(attributes) for c in rule.conditions):
                tested = {c.attribute: attributes.get(c.attribute) for c in rule.conditions}
                return Match(rule.segment, rule.name, rule.description, tested)
        return Match(self.default_segment, "default", self.default_description, {})

    @cached_property
    def _tests(self) -> tuple[tuple[tuple[str, bool, Callable[[Any], bool]], ...], ...]:
        return tuple(
            tuple((c.attribute, c.numeric, c.test()) for c in rule.conditions) for rule in self.rules
        )

    def evaluate_many(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """``evaluate`` of many attribute rows at once: the index of each row's first matching rule
        (``len(self.rules)``: the default).

        Column by column: each condition is tested once over the values of the rows still
        undecided that passed the rule's earlier conditions, so the cost is one pass per
        condition over a shrinking column, not a dictionary walk per row and rule.
        """
        result = [len(self.rules)] * len(rows)
        remaining = list(range(len(rows)))
        raw: dict[str, list[Any]] = {}
        numbers: dict[str, list[Any]] = {}
        for index, tests in enumerate(self._tests):
            if not remaining:
                break
            candidates = remaining
            for attribute, numeric, test in tests:
                column = raw.get(attribute)
                if column is None:
                    column = raw[attribute] = [row.get(attribute) for row in rows]
                if numeric:
                    converted = numbers.get(attribute)
                    if converted is None:
                        converted = numbers[attribute] = [_as_number(v) for v in column]
                    column = converted
                candidates = [i for i in candidates if test(column[i])]
                if not candidates:
                    break
            if candidates:
                for i in candidates:
                    result[i] = index
                decided = set(candidates)
                remaining = [i for i in remaining if i not in decided]
        return result

    def match_of(self, index: int, attributes: Mapping[str, Any]) -> Match:
        """The ``Match`` of rule ``index`` (``len(self.rules)``: the default) for one attribute row."""
        if index == len(self.rules):
            return Match(self.default_segment, "default", self.default_description, {})
        rule = self.rules[index]
        tested = {c.attribute: attributes.get(c.attribute) for c in rule.conditions}
        return Match(rule.segment, rule.name, rule.description, tested)

    def segment_of(self, index: int) -> str:
        return self.default_segment if index == len(self.rules) else self.rules[index].segment

    @cached_property
    def tested_attributes(self) -> frozenset[str]:
        """Every attribute some rule tests."""
        return frozenset(c.attribute for rule in self.rules for c in rule.conditions)

    def band_for(self, probability: float) -> str:
        for band, floor in self.score_bands:
            if probability >= floor:
                return band
        return self.score_bands[-1][0]


def _number(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError("a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError("a number") from exc
    if not number.is_finite():
        raise ValueError("a finite number")
    return number


def _check_condition(cond: ConditionDoc) -> tuple[Condition | None, str | None]:
    kind = ATTRIBUTES.get(cond.attribute)
    if kind is None:
        return None, f"unknown attribute {cond.attribute!r}"
    where = f"{cond.attribute} {cond.op}"
    value = cond.value
    try:
        if cond.op == "is_null":
            if not isinstance(value, bool):
                return None, f"{where}: value must be true or false"
        elif cond.op in NUMERIC_OPERATORS:
            if kind != "number":
                return None, f"{where}: operator {cond.op!r} needs a numeric attribute"
            if cond.op == "between":
                if not isinstance(value, list | tuple) or len(value) != 2:
                    return None, f"{where}: value must be a list [low, high]"
                low, high = _number(value[0]), _number(value[1])
                if low > high:
                    return None, f"{where}: low {low} is above high {high}"
                value = (low, high)
            else:
                value = _number(value)
        elif cond.op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                return None, f"{where}: value must be a non-empty list"
            value = frozenset(_number(v) if kind == "number" else str(v) for v in value)
        else:
            if value is None or isinstance(value, list | dict):
                return None, f"{where}: value must be a single value"
            value = _number(value) if kind == "number" else str(value)
    except ValueError as exc:
        return None, f"{where}: value {cond.value!r} must be {exc}"
    return Condition(cond.attribute, cond.op, value), None


def _rule_label(raw: Any, index: int) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"rules[{index}] {name!r}" if name else f"rules[{index}]"


def _format_pydantic(exc: ValidationError, raw: Mapping[str, Any]) -> list[str]:
    problems = []
    listed = raw.get("rules")
    raw_rules: list[Any] = listed if isinstance(listed, list) else []
    for err in exc.errors():
        loc = list(err["loc"])
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            index = loc[1]
            item = raw_rules[index] if index < len(raw_rules) else None
            rest = ".".join(str(p) for p in loc[2:])
            problems.append(f"{_rule_label(item, index)}: {rest + ': ' if rest else ''}{err['msg']}")
        else:
            problems.append(f"{'.'.join(str(p) for p in loc) or '<root>'}: {err['msg']}")
    return problems


def checksum_of(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


def parse_rules(raw: Any) -> RuleSet:
    """Validate a rules document (already parsed from YAML/JSON) into an executable rule set."""
    if not isinstance(raw, dict):
        raise RuleSetError(["<root>: a rules document must be a mapping"])
    try:
        doc = RuleSetDoc.model_validate(raw)
    except ValidationError as exc:
        raise RuleSetError(_format_pydantic(exc, raw)) from exc
    problems: list[str] = []
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, rule_doc in enumerate(doc.rules):
        label = f"rules[{index}] {rule_doc.name!r}"
        if rule_doc.name in seen:
            problems.append(f"{label}: duplicate rule name (first at rules[{seen[rule_doc.name]}])")
        seen.setdefault(rule_doc.name, index)
        conditions = []
        for cond_doc in rule_doc.when:
            condition, problem = _check_condition(cond_doc)
            if problem:
                problems.append(f"{label}: {problem}")
            elif condition is not None:
                conditions.append(condition)
        rules.append(Rule(rule_doc.name, rule_doc.segment, rule_doc.description, tuple(conditions)))
    bands = sorted(doc.score_bands.items(), key=lambda kv: kv[1], reverse=True)
    if not bands or any(not 0 <= floor <= 1 for _, floor in bands):
        problems.append("score_bands: every band floor must be between 0 and 1")
    elif bands[-1][1] != 0:
        problems.append("score_bands: the lowest band must start at 0 so every score has a band")
    if problems:
        raise RuleSetError(problems)
    return RuleSet(
        version=doc.version,
        rules=tuple(rules),
        default_segment=doc.default.segment,
        default_description=doc.default.description,
        score_bands=tuple(bands),
        channels=dict(doc.channels),
        document=raw,
        checksum=checksum_of(raw),
    )


def parse_rules_yaml(text: str) -> RuleSet:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleSetError([f"<yaml>: {exc}"]) from exc
    return parse_rules(raw)
