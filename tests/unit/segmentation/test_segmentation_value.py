"""Value-based segmentation: expected recovery and the channel with the best expected net value."""

from __future__ import annotations

from decimal import Decimal

from services.segmentation.domain.value import DEFAULT_CHANNELS, ChannelCost, assess


def test_expected_recovery_is_probability_times_overdue() -> None:
    value = assess(0.25, Decimal("1000000"), 10, DEFAULT_CHANNELS)
    assert value.expected_recovery == Decimal("250000.00")


def test_likely_payer_with_small_balance_gets_a_cheap_digital_channel() -> None:
    value = assess(0.9, Decimal("200000"), 5, DEFAULT_CHANNELS)
    assert value.best_channel == "whatsapp"
    # 0.07 * 0.1 * 200 000 - 250
    assert value.expected_net_value == Decimal("1150.00")
    assert value.by_channel["voice"] < 0


def test_unlikely_payer_with_a_large_early_balance_is_worth_an_agent() -> None:
    value = assess(0.2, Decimal("2000000"), 20, DEFAULT_CHANNELS)
    assert value.best_channel == "voice"
    assert "external_agency" not in value.by_channel  # needs 61+ days past due
    assert value.expected_net_value == Decimal("276000.00")


def test_late_and_residual_accounts_open_agency_and_legal() -> None:
    late = assess(0.2, Decimal("2000000"), 75, DEFAULT_CHANNELS)
    assert late.best_channel == "external_agency"
    residual = assess(0.05, Decimal("40000000"), 200, DEFAULT_CHANNELS)
    assert residual.best_channel == "legal"


def test_nothing_overdue_means_no_channel() -> None:
    value = assess(0.5, Decimal(0), 0, DEFAULT_CHANNELS)
    assert value.best_channel is None and value.expected_recovery == Decimal("0.00")


def test_ties_go_to_the_cheaper_channel() -> None:
    channels = {
        "sms": ChannelCost(cost=Decimal(100), uplift=0.1),
        "email": ChannelCost(cost=Decimal(100), uplift=0.1),
        "letter": ChannelCost(cost=Decimal(50), uplift=0.1),
    }
    assert assess(0.5, Decimal(1000), 1, channels).best_channel == "letter"
