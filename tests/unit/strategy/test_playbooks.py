from __future__ import annotations

from datetime import time

import pytest
import yaml

from services.strategy.config import PACKAGED
from services.strategy.domain.playbooks import PlaybookError, parse_config


def test_packaged_playbooks_are_valid_and_default_has_a_pre_due_reminder() -> None:
    config = parse_config(yaml.safe_load(PACKAGED.read_text(encoding="utf-8")))
    default = config.playbooks["default"]
    assert default.pre_due_steps and default.pre_due_steps[0].days_before_due == 3
    assert config.contact_time == time(9)
    assert config.playbook_for("unknown", "dpd_61_90").name == "dpd_61_90"
    assert config.playbook_for(None, None).name == "default"


def test_every_problem_is_reported_with_its_path() -> None:
    raw = {
        "contact_time": "25:99",
        "policy": {"max_per_day": 0},
        "playbooks": {
            "vip": {
                "steps": [
                    {"name": "a", "day": 1, "channel": "fax", "template": "x"},
                    {"name": "a", "day": 2, "days_before_due": 1, "channel": "sms", "template": "y"},
                    {"name": "b", "day": -1, "channel": "sms", "template": ""},
                ]
            }
        },
    }
    with pytest.raises(PlaybookError) as info:
        parse_config(raw)
    problems = "\n".join(info.value.problems)
    assert "contact_time: '25:99'" in problems
    assert "policy.max_per_day: must be >= 1" in problems
    assert "playbooks.vip.steps[0].channel: unknown channel 'fax' (one of" in problems
    assert "playbooks.vip.steps[1]: give exactly one of 'day' or 'days_before_due'" in problems
    assert "playbooks.vip.steps[2].day: must be >= 0" in problems
    assert "playbooks.vip.steps[2].template: must be a non-empty string" in problems
    assert "playbooks.default: required" in problems


def test_duplicate_step_names_are_rejected() -> None:
    step = {"name": "a", "day": 1, "channel": "sms", "template": "x"}
    with pytest.raises(PlaybookError, match="step name 'a' is used twice"):
        parse_config({"playbooks": {"default": {"steps": [step, step]}}})
