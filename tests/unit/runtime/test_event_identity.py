"""An event is (tenant, source, id): the inbox, derived ids and timers keep tenants and sources apart.

Runs the probe service (``runtime_probe.py``) on the in-memory transport, with its per-event
handler and with the same logic as a batch handler.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from runtime_probe import WAKE_AT, probe_metadata
from sqlalchemy import select

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.runtime.ids import cause_key, derived_id
from libs.runtime.transport.memory import InMemoryPlatform

_, SEEN = probe_metadata()


def office(event_id: str, entity_id: str, *, source: str = "/core/a", tenant: str = "default") -> Envelope:
    return Envelope(
        id=event_id,
        source=source,
        type="cobranza.reference.upserted",
        time=datetime(2026, 1, 5, 15, tzinfo=UTC),
        subject=f"office:{entity_id}",
        tenantid=tenant,
        data={"entity_type": "office", "entity_id": entity_id, "name": f"Oficina {entity_id}"},
    )


def seen(platform: InMemoryPlatform) -> list[tuple[str, str, str, str]]:
    with platform.context("probe").sessions() as session:
        rows = session.execute(
            select(SEEN.c.tenant_id, SEEN.c.source, SEEN.c.event_id, SEEN.c.entity_id).order_by(SEEN.c.seq)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def answers(platform: InMemoryPlatform) -> list[dict[str, object]]:
    """The agencies the probe emitted (one per office it handled)."""
    out = []
    for published in platform.broker.topics[Topics.REFERENCE]:
        envelope = json.loads(published.record.value or b"")
        if envelope["data"]["entity_type"] == "agency":
            out.append(envelope)
    return out


@pytest.mark.parametrize("batch", [False, True], ids=["per_event", "batch"])
def test_the_same_id_from_two_sources_or_two_tenants_is_two_events(probe_platform, batch: bool) -> None:
    platform = probe_platform(batch=batch)
    events = [
        office("E-1", "O1", source="/core/a"),
        office("E-1", "O2", source="/core/b"),
        office("E-1", "O3", source="/core/a", tenant="acme"),
    ]
    platform.publish_many(events, Topics.REFERENCE)
    platform.run_until_quiet()

    assert seen(platform) == [
        ("default", "/core/a", "E-1", "O1"),
        ("default", "/core/b", "E-1", "O2"),
        ("acme", "/core/a", "E-1", "O3"),
    ]
    emitted = answers(platform)
    assert len({e["id"] for e in emitted}) == 3, "three causes sharing an id derive three ids"
    assert [(e["tenantid"], e["causationid"]) for e in emitted] == [
        ("default", "E-1"),
        ("default", "E-1"),
        ("acme", "E-1"),
    ]


@pytest.mark.parametrize("batch", [False, True], ids=["per_event", "batch"])
def test_the_same_tenant_source_and_id_again_is_a_duplicate(probe_platform, batch: bool) -> None:
    platform = probe_platform(batch=batch)
    first = office("E-1", "O1")
    platform.publish_many([first, first], Topics.REFERENCE)  # a repeat inside one batch
    platform.run_until_quiet()
    platform.publish(office("E-1", "O1-again"), Topics.REFERENCE)  # a replay, later
    platform.run_until_quiet()

    assert seen(platform) == [("default", "/core/a", "E-1", "O1")]
    assert len(answers(platform)) == 1
    assert sum(r.duplicates for r in platform.results) == 2


def test_derived_ids_name_the_cause_by_tenant_source_and_id() -> None:
    keys = {cause_key("default", "/core/a", "E-1"), cause_key("default", "/core/b", "E-1")}
    keys.add(cause_key("acme", "/core/a", "E-1"))
    assert len({derived_id(k, "aging", 1) for k in keys}) == 3
    assert derived_id(cause_key("t", "/s", "E"), "aging", 1) == derived_id(
        cause_key("t", "/s", "E"), "aging", 1
    )


@pytest.mark.parametrize("batch", [False, True], ids=["per_event", "batch"])
def test_two_tenants_timers_for_the_same_key_are_two_timers(probe_platform, batch: bool) -> None:
    platform = probe_platform(batch=batch)
    platform.publish_many([office("E-1", "O1"), office("E-2", "O1", tenant="acme")], Topics.REFERENCE)
    platform.run_until_quiet()
    timers = platform.context("probe").spec.tables.timers
    with platform.context("probe").sessions() as session:
        rows = session.execute(select(timers.c.tenant_id, timers.c.key).order_by(timers.c.tenant_id)).all()
    assert [tuple(r) for r in rows] == [("acme", "O1"), ("default", "O1")]

    platform.advance_to(WAKE_AT)
    fired = [row for row in seen(platform) if row[1] == "timer"]
    assert sorted(fired) == [("acme", "timer", "E-2", "O1"), ("default", "timer", "E-1", "O1")]
