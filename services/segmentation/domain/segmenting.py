"""Putting it together for one account: attributes, score band, value, the matching rule.

Also the what-if matrix: how many accounts and how much balance would move
from each current segment to each new one under a candidate rule set.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from services.segmentation.domain.attributes import AccountState, base_attributes
from services.segmentation.domain.rules import Match, RuleSet
from services.segmentation.domain.value import DEFAULT_CHANNELS, ValueAssessment, assess

UNSCORED_PROBABILITY = 0.5


@dataclass(frozen=True)
class Assignment:
    segment: str
    rule: str
    description: str
    attributes: dict[str, Any]
    value: ValueAssessment

    def reason_attributes(self) -> dict[str, Any]:
        """JSON-ready attributes for the segment reason: what the rule tested plus score and value."""
        merged = dict(self.attributes)
        for key in ("score", "score_band", "expected_recovery", "best_channel"):
            merged.setdefault(key, self.attributes.get(key))
        merged["expected_net_value"] = self.value.expected_net_value
        return {k: _jsonable(v) for k, v in merged.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def attributes_for(
    state: AccountState, today: date, rules: RuleSet, score: float | None = None
) -> tuple[dict[str, Any], ValueAssessment]:
    """``score``: a fresh probability of payment for the account (else the one its state holds)."""
    attributes = base_attributes(state, today)
    if score is None:
        score = state.score
    probability = score if score is not None else UNSCORED_PROBABILITY
    value = assess(
        probability,
        state.overdue_balance,
        int(attributes["days_past_due"]),  # type: ignore[call-overload]
        rules.channels or DEFAULT_CHANNELS,
    )
    attributes.update(
        score=probability,
        score_band=rules.band_for(probability),
        expected_recovery=value.expected_recovery,
        best_channel=value.best_channel,
    )
    return attributes, value


def assign(state: AccountState, today: date, rules: RuleSet, score: float | None = None) -> Assignment:
    attributes, value = attributes_for(state, today, rules, score)
    return _assignment(rules.evaluate(attributes), attributes, value)


def _assignment(match: Match, attributes: dict[str, Any], value: ValueAssessment) -> Assignment:
    tested = dict(match.attributes)
    for key in ("score", "score_band", "expected_recovery", "best_channel"):
        tested[key] = attributes[key]
    return Assignment(match.segment, match.rule, match.description, tested, value)


VALUE_ATTRIBUTES = frozenset({"expected_recovery", "best_channel"})


class Batch:
    """Many accounts' assignments at once, as ``assign`` gives each: the rules evaluated column-wise.

    Only the segment of every row is computed up front; the value model runs for every row only
    when a rule tests one of its attributes, else just for the rows whose ``assignment`` is asked
    for (the ones announced or stored).
    """

    def __init__(
        self, rules: RuleSet, rows: Sequence[tuple[AccountState, date]], scores: Sequence[float | None]
    ) -> None:
        self.rules = rules
        self.rows = rows
        self.attributes: list[dict[str, Any]] = []
        self.values: list[ValueAssessment | None] = []
        channels = rules.channels or DEFAULT_CHANNELS
        self._channels = channels
        self._minimums = tuple(c.min_days_past_due for c in channels.values())
        self._assessed: dict[tuple[Any, ...], ValueAssessment] = {}
        with_value = not VALUE_ATTRIBUTES.isdisjoint(rules.tested_attributes)
        for (state, today), score in zip(rows, scores, strict=True):
            attributes = base_attributes(state, today)
            probability = score if score is not None else state.score
            if probability is None:
                probability = UNSCORED_PROBABILITY
            attributes["score"] = probability
            attributes["score_band"] = rules.band_for(probability)
            self.attributes.append(attributes)
            self.values.append(self._value(state, attributes) if with_value else None)
        self.matched = rules.evaluate_many(self.attributes)

    def _value(self, state: AccountState, attributes: dict[str, Any]) -> ValueAssessment:
        # the value depends on the days past due only through the channels' minimums
        dpd = int(attributes["days_past_due"])
        key = (attributes["score"], state.overdue_balance, tuple(dpd >= m for m in self._minimums))
        value = self._assessed.get(key)
        if value is None:
            value = self._assessed[key] = assess(
                attributes["score"], state.overdue_balance, dpd, self._channels
            )
        attributes["expected_recovery"] = value.expected_recovery
        attributes["best_channel"] = value.best_channel
        return value

    def segment(self, i: int) -> str:
        return self.rules.segment_of(self.matched[i])

    def assignment(self, i: int) -> Assignment:
        value = self.values[i]
        attributes = self.attributes[i]
        if value is None:
            value = self.values[i] = self._value(self.rows[i][0], attributes)
        return _assignment(self.rules.match_of(self.matched[i], attributes), attributes, value)


@dataclass
class Cell:
    accounts: int = 0
    overdue_balance: Decimal = Decimal(0)
    total_balance: Decimal = Decimal(0)


@dataclass
class PreviewMatrix:
    """``cells[(from, to)]``; ``from`` is None for accounts not segmented yet."""

    cells: dict[tuple[str | None, str], Cell] = field(default_factory=dict)

    def add(self, current: str | None, new: str, overdue: Decimal, total: Decimal) -> None:
        cell = self.cells.setdefault((current, new), Cell())
        cell.accounts += 1
        cell.overdue_balance += overdue
        cell.total_balance += total

    @property
    def moving(self) -> dict[tuple[str | None, str], Cell]:
        return {key: cell for key, cell in self.cells.items() if key[0] != key[1]}

    def totals(self) -> Cell:
        total = Cell()
        for cell in self.moving.values():
            total.accounts += cell.accounts
            total.overdue_balance += cell.overdue_balance
            total.total_balance += cell.total_balance
        return total

    def as_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "from": key[0],
                "to": key[1],
                "accounts": cell.accounts,
                "overdue_balance": format(cell.overdue_balance, "f"),
                "total_balance": format(cell.total_balance, "f"),
            }
            for key, cell in sorted(self.cells.items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))
        ]


def preview(accounts: Iterable[tuple[AccountState, str | None, date]], candidate: RuleSet) -> PreviewMatrix:
    """``accounts``: (state, current segment, the account's local today)."""
    matrix = PreviewMatrix()
    for state, current, today in accounts:
        new = assign(state, today, candidate).segment
        matrix.add(current, new, state.overdue_balance, state.total_balance)
    return matrix
