"""What the strategy decided about a debtor, and why: the auditor's record.

Every rule that plans, moves, suppresses, cancels, escalates, pauses or resumes a
contact says so with a :class:`Decision`; the adapter appends them (never updates),
so ``GET /v1/accounts/{id}/decisions`` answers "why was this debtor contacted when
they were" with the rule that decided it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

DecisionKind = Literal[
    "planned", "scheduled", "moved", "suppressed", "cancelled", "escalated", "paused", "resumed", "plan"
]
KINDS: frozenset[str] = frozenset(get_args(DecisionKind))
"""``planned``: a step put on the plan; ``scheduled``: a contact handed to notifier (contact.due);
``moved``: a contact shifted by a rule (detail ``from``/``to``/``rule``); ``suppressed``: a contact
that will not happen (no consent, opt-out); ``cancelled``: planned contacts dropped (paid, cured,
promise); ``escalated``: a broken promise or plan re-planned at once; ``paused``/``resumed``:
collection pauses; ``plan``: a payment plan's own events."""

@dataclass(frozen=True)
class Decision:
    account_id: str
    currency: str | None
    kind: str
    at: datetime
    contact_id: str | None = None
    channel: str | None = None
    reason: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)
    strategy: str | None = None
    strategy_version: int | None = None
    actor: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown decision kind {self.kind!r} (one of {sorted(KINDS)})")
        if self.at.tzinfo is None:
            raise ValueError("a decision's time must be timezone-aware")
