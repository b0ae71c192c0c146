"""Treatment rules as pure functions: when a pause ends, what a resume plans, what escalation plans."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from services.strategy.domain.playbooks import PlaybookError, Step, parse_playbook, playbook_document
from services.strategy.domain.treatment import escalation_plan, is_paused, pause_ends_at, resume_plan

BOG = ZoneInfo("America/Bogota")
STEPS = (
    Step("aviso_mora", "email", "aviso_mora", day=0),
    Step("sms_mora", "sms", "sms_mora", day=7),
    Step("llamada", "voice", "guion_llamada", day=14),
    Step("carta_cobro", "letter", "carta_cobro", day=30),
)
ANCHOR = date(2026, 1, 14)
NINE = time(9)


def test_a_pause_ends_at_local_midnight_after_its_last_day_and_permanent_ones_never() -> None:
    assert pause_ends_at("hardship", date(2026, 1, 31), "America/Bogota") == datetime(2026, 2, 1, tzinfo=BOG)
    assert pause_ends_at("deceased", date(2026, 1, 31), "America/Bogota") is None
    assert pause_ends_at("bankruptcy", None, "America/Bogota") is None
    assert pause_ends_at("dispute", None, "America/Bogota") is None  # until an explicit resume


def test_is_paused_while_one_pause_is_in_force() -> None:
    now = datetime(2026, 1, 20, tzinfo=UTC)
    over = SimpleNamespace(ends_at=datetime(2026, 1, 19, tzinfo=UTC), ended_at=None)
    resumed = SimpleNamespace(ends_at=None, ended_at=datetime(2026, 1, 18, tzinfo=UTC))
    holding = SimpleNamespace(ends_at=None, ended_at=None)
    assert not is_paused([over, resumed], now)
    assert is_paused([over, resumed, holding], now)


def test_resume_plans_only_the_latest_passed_step_and_keeps_later_days() -> None:
    now = datetime(2026, 2, 1, tzinfo=BOG)  # sms_mora (21st) and llamada (28th) passed while paused
    plan, collapsed = resume_plan(STEPS, ANCHOR, NINE, BOG, now, sent={"aviso_mora"})
    assert [(s.step.name, s.at) for s in plan] == [
        ("llamada", now),
        ("carta_cobro", datetime(2026, 2, 13, 9, tzinfo=BOG)),
    ]
    assert [s.name for s in collapsed] == ["sms_mora"]


def test_resume_with_the_latest_passed_step_already_sent_plans_only_what_is_ahead() -> None:
    now = datetime(2026, 1, 25, tzinfo=BOG)
    plan, collapsed = resume_plan(STEPS, ANCHOR, NINE, BOG, now, sent={"aviso_mora", "sms_mora"})
    assert [s.step.name for s in plan] == ["llamada", "carta_cobro"]
    assert plan[0].at == datetime(2026, 1, 28, 9, tzinfo=BOG) and collapsed == []


def test_escalation_plans_the_next_unsent_step_now_and_spaces_the_rest() -> None:
    now = datetime(2026, 1, 27, tzinfo=BOG)
    plan = escalation_plan(STEPS, ANCHOR, NINE, BOG, now, sent={"aviso_mora", "sms_mora"})
    assert [(s.step.name, s.at) for s in plan] == [
        ("llamada", now),  # before its own day (the 28th): at once
        ("carta_cobro", datetime(2026, 2, 13, 9, tzinfo=BOG)),  # its own day is later than 16 days on
    ]


def test_escalation_replans_the_steps_skipped_while_the_promise_was_open() -> None:
    """Before: a broken promise left sms_mora and llamada skipped and nothing planned in their place."""
    now = datetime(2026, 2, 10, tzinfo=BOG)
    plan = escalation_plan(STEPS, ANCHOR, NINE, BOG, now, sent={"aviso_mora"})
    assert [(s.step.name, (s.at - now).days) for s in plan] == [
        ("sms_mora", 0),
        ("llamada", 7),
        ("carta_cobro", 23),
    ]


def test_escalation_with_every_step_sent_makes_the_strongest_again() -> None:
    now = datetime(2026, 3, 1, tzinfo=BOG)
    plan = escalation_plan(STEPS, ANCHOR, NINE, BOG, now, sent={s.name for s in STEPS})
    assert [(s.step.name, s.at) for s in plan] == [("carta_cobro", now)]


def test_a_strategy_version_is_validated_naming_the_bad_step() -> None:
    steps = [
        {"name": "a", "day": 0, "channel": "email", "template": "x"},
        {"name": "b", "day": 3, "channel": "sms", "template": "y"},
        {"name": "c", "day": 9, "channel": "fax", "template": "z"},
    ]
    with pytest.raises(PlaybookError) as info:
        parse_playbook("vip", {"steps": steps})
    assert info.value.problems[0].startswith("steps[2].channel: unknown channel 'fax'")
    with pytest.raises(PlaybookError, match=r"steps: must be a non-empty list"):
        parse_playbook("vip", {"steps": []})


def test_a_playbook_document_reads_back_as_the_same_playbook() -> None:
    playbook = parse_playbook(
        "vip",
        {
            "steps": [
                {"name": "previo", "days_before_due": 2, "channel": "email", "template": "p"},
                {"name": "llamada", "day": 5, "channel": "voice", "template": "g", "language": "en"},
            ]
        },
    )
    assert parse_playbook("vip", playbook_document(playbook)) == playbook
