"""decode's version handling: the newest shape is validated as is, an older one goes through its
upcasters, a newer one than the consumer knows is refused with the envelope kept for the dead letter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from libs.events import registry
from libs.events.payloads.accounts import AccountAged
from libs.events.registry import InvalidEvent, decode

FIXTURE = Path(__file__).parents[2] / "contract" / "fixtures" / "cobranza.account.aged.v1.json"


def _raw(**changes: Any) -> bytes:
    raw = json.loads(FIXTURE.read_bytes())
    raw.update(changes)
    return json.dumps(raw).encode()


class _AccountAgedV2(AccountAged):
    """A v2 that renamed ``bucket`` to ``aging_bucket`` (test only, never registered globally)."""

    version: ClassVar[int] = 2
    aging_bucket: str


@pytest.fixture
def v2(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    models = dict(registry.all_payload_models())
    models[AccountAged.event_type] = _AccountAgedV2
    monkeypatch.setattr(registry, "_MODELS", models)
    seen: list[dict[str, Any]] = []

    def rename(data: dict[str, Any]) -> dict[str, Any]:
        seen.append(data)
        return {**data, "aging_bucket": data["bucket"]}

    monkeypatch.setitem(registry._UPCASTERS, (AccountAged.event_type, 1), rename)
    return seen


def test_newest_version_is_validated_without_upcasting(v2: list[dict[str, Any]]) -> None:
    event = decode(
        _raw(schemaversion=2, data={**json.loads(FIXTURE.read_bytes())["data"], "aging_bucket": "x"})
    )
    assert isinstance(event.payload, _AccountAgedV2)
    assert event.payload.aging_bucket == "x"
    assert v2 == []


def test_older_version_goes_through_its_upcaster(v2: list[dict[str, Any]]) -> None:
    event = decode(_raw())
    assert isinstance(event.payload, _AccountAgedV2)
    assert event.payload.aging_bucket == "dpd_1_30"
    assert len(v2) == 1
    assert event.envelope.data == json.loads(FIXTURE.read_bytes())["data"], "the envelope keeps the raw data"


def test_newer_version_than_the_consumer_knows_is_refused_with_its_envelope() -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode(_raw(schemaversion=2))
    assert "newer than this consumer understands" in caught.value.reason
    assert caught.value.envelope is not None
    assert caught.value.envelope.id == json.loads(FIXTURE.read_bytes())["id"]


def test_payload_errors_name_the_data_field_and_keep_the_envelope() -> None:
    data = {**json.loads(FIXTURE.read_bytes())["data"], "days_past_due": "many"}
    with pytest.raises(InvalidEvent) as caught:
        decode(_raw(data=data))
    assert caught.value.reason.startswith("data.days_past_due:")
    assert caught.value.envelope is not None


def test_unknown_type_is_refused_with_its_envelope() -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode(_raw(type="cobranza.nothing.happened"))
    assert "unknown event type" in caught.value.reason
    assert caught.value.envelope is not None
