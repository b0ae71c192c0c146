"""Value-based segmentation: what an account is expected to pay, and the channel worth using.

Expected recovery is ``p * overdue`` (``p`` = probability of payment). Working
an account on channel *c* is assumed to convert a share ``uplift_c`` of the
payments that would not have happened, so its expected net value is

    (p + uplift_c * (1 - p)) * overdue * (1 - commission_c) - cost_c - p * overdue

i.e. the money the contact adds over doing nothing, net of its cost (a fixed
cost per contact, and for an external agency a commission on what it collects).
Likely payers gain little from any contact, so the cheapest channel wins; a
large balance with a low ``p`` is where an agent's call or legal action pays.
Channels can require a minimum days past due (legal action, external agency).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field

from libs.events.types import NonNegativeAmount

CENT = Decimal("0.01")


class ChannelCost(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cost: NonNegativeAmount = Field(description="cost of one contact/action, in the account's currency")
    uplift: float = Field(ge=0, le=1, description="share of non-payers the channel converts")
    commission: float = Field(default=0, ge=0, lt=1, description="share of the collected money kept")
    min_days_past_due: int = Field(default=0, ge=0)

    @cached_property
    def uplift_share(self) -> Decimal:
        """``uplift`` as the Decimal the value formula multiplies by (converted once per channel)."""
        return Decimal(str(self.uplift))

    @cached_property
    def kept_share(self) -> Decimal:
        """The share of the collected money the channel leaves: ``1 - commission``."""
        return 1 - Decimal(str(self.commission))


DEFAULT_CHANNELS: dict[str, ChannelCost] = {
    "email": ChannelCost(cost=Decimal("150"), uplift=0.03),
    "sms": ChannelCost(cost=Decimal("90"), uplift=0.04),
    "whatsapp": ChannelCost(cost=Decimal("250"), uplift=0.07),
    "letter": ChannelCost(cost=Decimal("6500"), uplift=0.05),
    "voice": ChannelCost(cost=Decimal("12000"), uplift=0.18),
    "external_agency": ChannelCost(cost=Decimal("0"), uplift=0.30, commission=0.15, min_days_past_due=61),
    "legal": ChannelCost(cost=Decimal("1500000"), uplift=0.45, commission=0.10, min_days_past_due=181),
}


@dataclass(frozen=True)
class ValueAssessment:
    expected_recovery: Decimal
    best_channel: str | None
    expected_net_value: Decimal
    """Net value of the best channel over doing nothing (may be negative: then no channel pays)."""
    by_channel: dict[str, Decimal]


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def assess(
    probability: float, overdue: Decimal, days_past_due: int, channels: Mapping[str, ChannelCost]
) -> ValueAssessment:
    p = Decimal(str(round(probability, 6)))
    expected = _money(p * overdue)
    by_channel: dict[str, Decimal] = {}
    for name, channel in channels.items():
        if days_past_due < channel.min_days_past_due:
            continue
        collected = (p + channel.uplift_share * (1 - p)) * overdue * channel.kept_share
        by_channel[name] = _money(collected - channel.cost - p * overdue)
    if not by_channel or overdue <= 0:
        return ValueAssessment(expected, None, Decimal("0.00"), by_channel)
    # ties go to the cheaper channel, then the name, so the choice is deterministic
    best = max(by_channel, key=lambda n: (by_channel[n], -channels[n].cost, n))
    return ValueAssessment(expected, best, by_channel[best], by_channel)
