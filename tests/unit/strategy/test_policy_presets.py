"""Contact policy presets by country (Ley 2300, Regulation F, default), each move with its rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.strategy.config import contact_policies, load_policies_file
from services.strategy.domain.contact_policy import (
    PRESETS,
    ContactPolicy,
    History,
    PastContact,
    fit,
    for_zone,
    preset_for,
    public_holidays,
    with_overrides,
)
from services.strategy.domain.decisions import Debtor, DueStep, schedule_due_steps

BOG = ZoneInfo("America/Bogota")
NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
CO, US = PRESETS["CO"], PRESETS["US"]


def co(moment: datetime, channel: str = "sms", history: History | None = None):  # type: ignore[no-untyped-def]
    return fit(
        moment,
        channel,
        timezone="America/Bogota",
        is_holiday=public_holidays("CO"),
        history=history or History(),
        policy=CO,
    )


def us(
    moment: datetime, channel: str = "voice", history: History | None = None, zone: str = "America/New_York"
):  # type: ignore[no-untyped-def]
    return fit(
        moment,
        channel,
        timezone=zone,
        is_holiday=public_holidays("US"),
        history=history or History(),
        policy=US,
    )


def test_presets_follow_the_debtor_s_country() -> None:
    assert preset_for("co").name == "ley_2300"
    assert preset_for("US").name == "reg_f"
    assert preset_for("MX").name == preset_for(None).name == "default"


def test_colombia_sunday_and_holiday_moves_name_their_rule() -> None:
    sunday = co(datetime(2026, 1, 18, 10, tzinfo=BOG))
    assert sunday.slot == datetime(2026, 1, 19, 7, tzinfo=BOG)
    assert sunday.rules == ("ley_2300.sunday", "ley_2300.hours")
    # 2026-01-12 is a festivo (Reyes Magos, moved to Monday)
    holiday = co(datetime(2026, 1, 12, 10, tzinfo=BOG))
    assert holiday.slot == datetime(2026, 1, 13, 7, tzinfo=BOG)
    assert holiday.rules[0] == "ley_2300.holiday"
    inside = co(datetime(2026, 1, 14, 10, tzinfo=BOG))
    assert inside.moves == ()


def test_colombia_one_a_day_and_one_channel_a_week_after_a_direct_contact() -> None:
    wednesday = datetime(2026, 1, 14, 10, tzinfo=BOG)
    same_day = co(wednesday, "sms", History((PastContact("sms", wednesday - timedelta(hours=2)),)))
    assert (same_day.slot, same_day.rules[0]) == (datetime(2026, 1, 15, 7, tzinfo=BOG), "ley_2300.one_a_day")
    # the house rule off, the law alone: after a direct contact by e-mail on Monday, no SMS this week
    law = with_overrides(CO, {"single_channel_per_week": False}, "t")
    reached = History(direct_at=datetime(2026, 1, 12, 9, tzinfo=BOG), direct_channel="email")
    moved = fit(
        wednesday,
        "sms",
        timezone="America/Bogota",
        is_holiday=public_holidays("CO"),
        history=reached,
        policy=law,
    )
    assert moved.slot == datetime(2026, 1, 19, 7, tzinfo=BOG)
    assert moved.rules[0] == "ley_2300.one_channel_after_direct_contact"
    # the channel of the direct contact may go on (one a day), and without a direct contact any channel may
    same_channel = fit(
        wednesday,
        "email",
        timezone="America/Bogota",
        is_holiday=public_holidays("CO"),
        history=reached,
        policy=law,
    )
    assert same_channel.slot == wednesday
    assert (
        fit(wednesday, "sms", timezone="America/Bogota", is_holiday=public_holidays("CO"), policy=law).slot
        == wednesday
    )


def test_us_eight_to_nine_local_any_day() -> None:
    assert us(datetime(2026, 3, 2, 7, tzinfo=NY)).slot == datetime(2026, 3, 2, 8, tzinfo=NY)
    late = us(datetime(2026, 3, 2, 21, tzinfo=NY))
    assert (late.slot, late.rules) == (datetime(2026, 3, 3, 8, tzinfo=NY), ("reg_f.hours",))
    sunday = datetime(2026, 3, 1, 12, tzinfo=LA)
    assert us(sunday, zone="America/Los_Angeles").slot == sunday  # Reg F names no weekdays
    assert us(datetime(2026, 7, 4, 12, tzinfo=NY)).moves == ()  # nor holidays


@pytest.mark.parametrize("month", [1, 7])  # standard and daylight time
def test_us_unknown_zone_is_a_moment_convenient_in_every_zone(month: int) -> None:
    policy, zone = for_zone(US, None, "US")
    zones = [
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Los_Angeles",
        "America/Anchorage",
        "Pacific/Honolulu",
    ]
    for hour in range(24):
        moment = datetime(2026, month, 14, hour, tzinfo=UTC)
        slot = fit(moment, "sms", timezone=zone, is_holiday=lambda d: False, policy=policy).slot
        for name in zones:
            local = slot.astimezone(ZoneInfo(name))
            assert 8 <= local.hour < 21, (moment, name, local)


def test_us_seven_calls_in_seven_days_and_seven_quiet_days_after_a_conversation() -> None:
    start = datetime(2026, 3, 2, 10, tzinfo=NY)
    calls = tuple(PastContact("voice", start + timedelta(days=i // 2, hours=i % 2)) for i in range(7))
    eighth = us(start + timedelta(days=3, hours=5), history=History(calls))
    assert eighth.rules[0] == "reg_f.seven_calls_in_seven_days"
    assert eighth.slot == calls[0].at + timedelta(days=7)
    # an e-mail is no call attempt
    assert us(start + timedelta(days=3, hours=5), channel="email", history=History(calls)).moves == ()
    talked = datetime(2026, 3, 2, 15, tzinfo=NY)
    after = us(datetime(2026, 3, 4, 10, tzinfo=NY), history=History(conversation_at=talked))
    assert (after.slot, after.rules[0]) == (talked + timedelta(days=7), "reg_f.after_conversation")
    assert (
        us(datetime(2026, 3, 4, 10, tzinfo=NY), channel="sms", history=History(conversation_at=talked)).moves
        == ()
    )


def test_default_preset_is_working_hours_without_national_holidays() -> None:
    mexico = public_holidays("MX")
    policy = PRESETS["default"]
    saturday = datetime(2026, 3, 7, 10, tzinfo=ZoneInfo("America/Mexico_City"))
    got = fit(saturday, "sms", timezone="America/Mexico_City", is_holiday=mexico, policy=policy)
    assert got.slot == datetime(2026, 3, 9, 8, tzinfo=ZoneInfo("America/Mexico_City"))
    assert got.rules[0] == "default.closed_day"
    # 2026-03-16: Natalicio de Benito Juárez (third Monday of March)
    holiday = fit(
        datetime(2026, 3, 16, 9, tzinfo=ZoneInfo("America/Mexico_City")),
        "sms",
        timezone="America/Mexico_City",
        is_holiday=mexico,
        policy=policy,
    )
    assert holiday.rules[0] == "default.holiday"


def test_tenant_overrides_from_policies_yaml_and_their_errors(tmp_path: Path) -> None:
    (tmp_path / "policies.yaml").write_text(
        "presets:\n  US: {max_calls_per_7_days: 3}\n"
        "tenants:\n  banco: {CO: {max_per_day: 2, windows: {mon: '09:00-12:00'}}}\n",
        encoding="utf-8",
    )
    extras = {"config_dir": str(tmp_path)}
    banco = contact_policies(extras, "banco", CO)
    assert banco["US"].max_calls_per_7_days == 3 and banco["CO"].max_per_day == 2
    assert sorted(banco["CO"].windows) == [0]
    assert contact_policies(extras, "otro", CO)["CO"].max_per_day == 1
    assert contact_policies({}, "banco", CO)["US"].max_calls_per_7_days == 7
    bad = tmp_path / "bad.yaml"
    bad.write_text("tenants: {x: {US: {max_per_week: 1}}}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"tenants.x.US.max_per_week: unknown key"):
        load_policies_file(bad.resolve())
    with pytest.raises(ValueError, match=r"w.windows.sun: '20:00-08:00x' is not"):
        with_overrides(CO, {"windows": {"sun": "20:00-08:00x"}}, "w")
    with pytest.raises(ValueError, match="contact caps"):
        ContactPolicy(max_per_day=0)


def test_due_steps_are_suppressed_without_consent_and_booked_one_a_day_per_account() -> None:
    now = datetime(2026, 1, 14, 15, tzinfo=UTC)  # 10:00 in Bogotá, a Wednesday
    debtor = Debtor("America/Bogota", "CO", History(), {"email": True, "sms": False}, frozenset({"USD"}))
    steps = [
        DueStep("K1", "A1", "COP", "email", "dunning", "default", 2),
        DueStep("K2", "A1", "COP", "email", "dunning", "default", 2),
        DueStep("K3", "A1", "COP", "sms", "dunning", "default", 2),
        DueStep("K4", "A1", "COP", "voice", "dunning", "default", 2),
        DueStep("K5", "A1", "USD", "email", "dunning", "default", 2),
    ]
    out = {o.contact_id: o for o in schedule_due_steps(steps, {"A1": debtor}, PRESETS, now)}
    assert out["K1"].scheduled_for == now
    assert [d.kind for d in out["K1"].decisions] == ["scheduled"]
    assert out["K2"].scheduled_for == datetime(2026, 1, 15, 7, tzinfo=BOG)
    moved = out["K2"].decisions[0]
    assert (moved.kind, moved.detail["rule"], moved.detail["from"], moved.detail["to"]) == (
        "moved",
        "ley_2300.one_a_day",
        now,
        datetime(2026, 1, 15, 7, tzinfo=BOG),
    )
    assert moved.strategy_version == 2
    assert (out["K3"].status, out["K3"].reason) == ("skipped", "no consent for sms")
    assert (out["K4"].status, out["K4"].reason) == ("skipped", "no recorded consent for voice")
    assert out["K4"].decisions[0].kind == "suppressed"
    assert out["K5"].reason == "an open promise to pay in USD"
    held = schedule_due_steps(
        steps[:1],
        {"A1": Debtor("America/Bogota", "CO", History(), {"email": True}, paused=True)},
        PRESETS,
        now,
    )
    assert (held[0].status, held[0].reason, held[0].decisions[0].kind) == (
        "cancelled",
        "collection paused: in force",
        "suppressed",
    )
