"""The account attributes segment rules can test, and how stage follows from the aging bucket.

An attribute is either numeric (compared with gte/lte/between…) or categorical
(eq/in/not_in…); ``ATTRIBUTES`` is the single list the rule validator and the
evaluator agree on, so a typo in a rules file is caught at load time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

AttributeKind = Literal["number", "text"]

ATTRIBUTES: dict[str, AttributeKind] = {
    "bucket": "text",
    "stage": "text",
    "days_past_due": "number",
    "overdue_balance": "number",
    "total_balance": "number",
    "currency": "text",
    "product_line": "text",
    "country": "text",
    "region": "text",
    "advisor_id": "text",
    "office_id": "text",
    "agency_id": "text",
    "customer_kind": "text",
    "broken_promises": "number",
    "kept_promises": "number",
    "days_since_last_payment": "number",
    "tenure_days": "number",
    "score": "number",
    "score_band": "text",
    "expected_recovery": "number",
    "best_channel": "text",
}

BUCKETS = ("current", "dpd_1_30", "dpd_31_60", "dpd_61_90", "dpd_91_180", "dpd_181_360", "dpd_361_plus")
STAGES = ("current", "early", "late", "residual")

_BUCKET_STAGE = {
    "current": "current",
    "dpd_1_30": "early",
    "dpd_31_60": "early",
    "dpd_61_90": "late",
    "dpd_91_180": "late",
    "dpd_181_360": "residual",
    "dpd_361_plus": "residual",
}


def stage_for(bucket: str | None, days_past_due: int) -> str:
    """current / early (1-60 dpd) / late (61-180) / residual (>180).

    For facts aging announced without a stage: a bucket with a known name
    decides; a custom bucket name falls back to the days past due. The stage
    aging announces (from the tenant's scheme) always wins over this guess.
    """
    if bucket in _BUCKET_STAGE:
        return _BUCKET_STAGE[bucket]
    if days_past_due <= 0:
        return "current"
    if days_past_due <= 60:
        return "early"
    if days_past_due <= 180:
        return "late"
    return "residual"


@dataclass(frozen=True)
class AccountState:
    """What segmentation knows of one account: the row of ``segmentation.accounts``."""

    account_id: str
    currency: str
    total_balance: Decimal = Decimal(0)
    overdue_balance: Decimal = Decimal(0)
    bucket: str = "current"
    stage: str | None = None
    """The bucket's stage as aging announced it (its tenant's scheme); None before aging said one."""
    days_past_due: int = 0
    aged_on: date | None = None
    product_line: str | None = None
    country: str | None = None
    region: str | None = None
    advisor_id: str | None = None
    office_id: str | None = None
    agency_id: str | None = None
    customer_kind: str | None = None
    broken_promises: int = 0
    kept_promises: int = 0
    last_payment_on: date | None = None
    first_issued_on: date | None = None
    score: float | None = None

    def days_past_due_on(self, today: date) -> int:
        """Aging reports dpd when the bucket changes; an unpaid account keeps ageing a day a day.

        Every scheme's first bucket is exactly 0 DPD, so 0 means current whatever the bucket's name.
        """
        if self.days_past_due <= 0:
            return 0
        if self.aged_on is None:
            return self.days_past_due
        return self.days_past_due + max((today - self.aged_on).days, 0)


def base_attributes(state: AccountState, today: date) -> dict[str, object]:
    """Attributes known without the score or the value model (those are added by the caller)."""
    dpd = state.days_past_due_on(today)
    return {
        "bucket": state.bucket,
        "stage": state.stage or stage_for(state.bucket, dpd),
        "days_past_due": dpd,
        "overdue_balance": state.overdue_balance,
        "total_balance": state.total_balance,
        "currency": state.currency,
        "product_line": state.product_line,
        "country": state.country,
        "region": state.region,
        "advisor_id": state.advisor_id,
        "office_id": state.office_id,
        "agency_id": state.agency_id,
        "customer_kind": state.customer_kind,
        "broken_promises": state.broken_promises,
        "kept_promises": state.kept_promises,
        "days_since_last_payment": (today - state.last_payment_on).days if state.last_payment_on else None,
        "tenure_days": (today - state.first_issued_on).days if state.first_issued_on else 0,
    }
