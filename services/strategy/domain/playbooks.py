"""Per-segment collection playbooks, kept as data (YAML) and validated here.

A playbook is a sequence of steps, each a channel, a template and a day offset:
``day`` counts from the moment the account enters the segment or bucket,
``days_before_due`` schedules a pre-due reminder from the invoice's due date.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.strategy.domain.contact_policy import ContactPolicy

CHANNELS = ("email", "sms", "whatsapp", "voice", "letter")
DEFAULT_PLAYBOOK = "default"


class PlaybookError(ValueError):
    """The configuration is invalid; the message lists every problem with its path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid strategy configuration:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Step:
    name: str
    channel: str
    template: str
    language: str = "es"
    day: int | None = None
    days_before_due: int | None = None


@dataclass(frozen=True)
class Playbook:
    name: str
    steps: tuple[Step, ...] = ()

    @property
    def dunning_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.day is not None)

    @property
    def pre_due_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.days_before_due is not None)


@dataclass(frozen=True)
class StrategyConfig:
    playbooks: Mapping[str, Playbook]
    promise_grace_days: int = 0
    default_timezone: str = "America/Bogota"
    default_country: str = "CO"
    contact_time: time = time(9)
    policy: ContactPolicy = field(default_factory=ContactPolicy)

    def playbook_for(self, segment: str | None, bucket: str | None = None) -> Playbook:
        """The segment's playbook, else one named after the bucket, else ``default``."""
        for key in (segment, bucket):
            if key and key in self.playbooks:
                return self.playbooks[key]
        return self.playbooks[DEFAULT_PLAYBOOK]


def _int(value: Any, path: str, problems: list[str], *, minimum: int = 0) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{path}: must be an integer")
        return None
    if value < minimum:
        problems.append(f"{path}: must be >= {minimum}")
        return None
    return value


def _str(value: Any, path: str, problems: list[str]) -> str | None:
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{path}: must be a non-empty string")
        return None
    return value.strip()


def _time(value: Any, path: str, problems: list[str]) -> time | None:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        problems.append(f"{path}: {value!r} is not a time like '09:00'")
        return None


def _step(raw: Any, path: str, problems: list[str]) -> Step | None:
    if not isinstance(raw, dict):
        problems.append(f"{path}: must be a mapping")
        return None
    known = {"name", "channel", "template", "language", "day", "days_before_due"}
    for extra in sorted(set(raw) - known):
        problems.append(f"{path}.{extra}: unknown key")
    before = len(problems)
    name = _str(raw.get("name"), f"{path}.name", problems)
    template = _str(raw.get("template"), f"{path}.template", problems)
    channel = raw.get("channel")
    if channel not in CHANNELS:
        problems.append(f"{path}.channel: unknown channel {channel!r} (one of {', '.join(CHANNELS)})")
    language = _str(raw.get("language", "es"), f"{path}.language", problems)
    has_day, has_before = "day" in raw, "days_before_due" in raw
    day = before_due = None
    if has_day == has_before:
        problems.append(f"{path}: give exactly one of 'day' or 'days_before_due'")
    elif has_day:
        day = _int(raw["day"], f"{path}.day", problems)
    else:
        before_due = _int(raw["days_before_due"], f"{path}.days_before_due", problems)
    if len(problems) > before:
        return None
    assert name and template and language and isinstance(channel, str)
    return Step(name, channel, template, language, day, before_due)


def _playbook(name: str, raw_steps: list[Any], prefix: str, problems: list[str]) -> Playbook:
    steps = [_step(s, f"{prefix}steps[{i}]", problems) for i, s in enumerate(raw_steps)]
    names = [s.name for s in steps if s]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{prefix}steps: step name {dup!r} is used twice")
    return Playbook(name, tuple(s for s in steps if s))


def parse_playbook(name: str, raw: Any) -> Playbook:
    """One playbook version (``{"steps": [...]}``) as the strategies API receives it.

    Raises ``PlaybookError`` naming every bad step by its path: ``steps[2].channel: unknown channel 'fax'``.
    """
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise PlaybookError(["(root): must be a mapping with 'steps'"])
    for extra in sorted(set(raw) - {"steps"}):
        problems.append(f"{extra}: unknown key")
    steps = raw.get("steps")
    if not isinstance(steps, list) or not steps:
        problems.append("steps: must be a non-empty list of steps")
        raise PlaybookError(problems)
    playbook = _playbook(name, steps, "", problems)
    if problems:
        raise PlaybookError(problems)
    return playbook


def playbook_document(playbook: Playbook) -> dict[str, Any]:
    """A playbook as the JSON document a version stores (what ``parse_playbook`` reads back)."""
    steps: list[dict[str, Any]] = []
    for s in playbook.steps:
        step: dict[str, Any] = {"name": s.name, "channel": s.channel, "template": s.template}
        if s.language != "es":
            step["language"] = s.language
        if s.day is not None:
            step["day"] = s.day
        else:
            step["days_before_due"] = s.days_before_due
        steps.append(step)
    return {"steps": steps}


@dataclass(frozen=True)
class ActiveStrategies:
    """A tenant's active playbook versions: what plans contacts, and which version each is."""

    playbooks: Mapping[str, Playbook]
    versions: Mapping[str, int]


def _policy(raw: Any, problems: list[str]) -> ContactPolicy:
    if raw is None:
        return ContactPolicy()
    if not isinstance(raw, dict):
        problems.append("policy: must be a mapping")
        return ContactPolicy()
    values: dict[str, Any] = {}
    for key in ("max_per_day", "max_per_channel_per_week"):
        if key in raw:
            values[key] = _int(raw[key], f"policy.{key}", problems, minimum=1)
    if "single_channel_per_week" in raw:
        if not isinstance(raw["single_channel_per_week"], bool):
            problems.append("policy.single_channel_per_week: must be true or false")
        else:
            values["single_channel_per_week"] = raw["single_channel_per_week"]
    for extra in sorted(set(raw) - {"max_per_day", "max_per_channel_per_week", "single_channel_per_week"}):
        problems.append(f"policy.{extra}: unknown key")
    if any(v is None for v in values.values()):
        return ContactPolicy()
    return ContactPolicy(**values)


def parse_config(raw: Any) -> StrategyConfig:
    """Validate a parsed YAML document; raises ``PlaybookError`` listing every problem."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise PlaybookError(["(root): must be a mapping"])
    grace = _int(raw.get("promise_grace_days", 0), "promise_grace_days", problems)
    zone = raw.get("default_timezone", "America/Bogota")
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"default_timezone: {zone!r} is not an IANA time zone")
    country = _str(raw.get("default_country", "CO"), "default_country", problems)
    contact_time = _time(raw.get("contact_time", "09:00"), "contact_time", problems)
    policy = _policy(raw.get("policy"), problems)
    books = raw.get("playbooks")
    playbooks: dict[str, Playbook] = {}
    if not isinstance(books, dict) or not books:
        problems.append("playbooks: must be a non-empty mapping of segment -> playbook")
    else:
        for name, body in books.items():
            path = f"playbooks.{name}"
            if not isinstance(body, dict) or not isinstance(body.get("steps"), list):
                problems.append(f"{path}.steps: must be a list of steps")
                continue
            playbooks[str(name)] = _playbook(str(name), body["steps"], f"{path}.", problems)
        if DEFAULT_PLAYBOOK not in books:
            problems.append(f"playbooks.{DEFAULT_PLAYBOOK}: required (used when no segment matches)")
    known = {
        "promise_grace_days",
        "default_timezone",
        "default_country",
        "contact_time",
        "policy",
        "playbooks",
    }
    for extra in sorted(set(raw) - known):
        problems.append(f"{extra}: unknown key")
    if problems:
        raise PlaybookError(problems)
    assert grace is not None and country and contact_time
    return StrategyConfig(playbooks, grace, str(zone), country.upper(), contact_time, policy)
