"""Contracts are promises: old fixtures keep parsing, committed schemas match the models, topics exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from libs.events.catalog import CATALOG
from libs.events.registry import InvalidEvent, all_payload_models, decode
from libs.events.schema_export import SCHEMA_DIR, event_schema

FIXTURES = Path(__file__).parent / "fixtures"
MODELS = all_payload_models()


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_published_fixture_still_parses(path: Path) -> None:
    raw = path.read_bytes()
    event = decode(raw)
    assert event.envelope.type == json.loads(raw)["type"]
    assert event.payload.event_type == event.envelope.type


def test_every_event_type_has_a_fixture() -> None:
    covered = {p.name.rsplit(".v", 1)[0] for p in FIXTURES.glob("*.json")}
    assert set(MODELS) <= covered, f"add fixtures for {sorted(set(MODELS) - covered)}"


@pytest.mark.parametrize("event_type", sorted(MODELS))
def test_committed_json_schema_matches_the_model(event_type: str) -> None:
    model = MODELS[event_type]
    committed = SCHEMA_DIR / f"{event_type}.v{model.version}.json"
    assert committed.exists(), "run: cobranza events schema --out libs/events/schemas"
    assert json.loads(committed.read_text()) == json.loads(
        json.dumps(event_schema(event_type), sort_keys=True)
    ), f"{committed.name} is stale: run cobranza events schema --out libs/events/schemas"


def test_every_event_type_goes_to_a_catalogued_topic() -> None:
    topics = {spec.name for spec in CATALOG}
    assert {model.topic for model in MODELS.values()} <= topics


def test_money_as_binary_float_is_rejected_with_the_field_path() -> None:
    raw = json.loads((FIXTURES / "cobranza.payment.received.v1.json").read_text())
    raw["data"]["amount"] = 10.5
    with pytest.raises(InvalidEvent, match=r"data\.amount"):
        decode(json.dumps(raw))


def test_naive_timestamps_are_rejected() -> None:
    raw = json.loads((FIXTURES / "cobranza.payment.received.v1.json").read_text())
    raw["time"] = "2026-02-14T13:00:00"
    with pytest.raises(InvalidEvent, match="time"):
        decode(json.dumps(raw))


def test_event_catalog_page_is_current() -> None:
    from libs.events.catalog_doc import render

    page = Path(__file__).resolve().parents[2] / "docs" / "events.md"
    assert page.read_text() == render(), (
        "docs/events.md is stale: run cobranza events docs --out docs/events.md"
    )
