"""A record whose ``ce_type`` header names a type the service does not handle is ignored undecoded.

No parse, no inbox row, no dead letter (even when its value is malformed: the services that handle
the type judge it). Without the header the record is decoded as before.
"""

from __future__ import annotations

from runtime_probe import probe_metadata
from sqlalchemy import func, select
from test_event_identity import office, seen

from libs.events.catalog import Topics
from libs.runtime.observability import EVENTS_CONSUMED

_, SEEN = probe_metadata()
ERASED = "cobranza.customer.erased"


def inbox_rows(platform) -> int:  # type: ignore[no-untyped-def]
    ctx = platform.context("probe")
    with ctx.sessions() as session:
        return int(session.execute(select(func.count()).select_from(ctx.spec.tables.inbox)).scalar_one())


def ignored_count(event_type: str) -> float:
    return EVENTS_CONSUMED.labels("probe", event_type, "ignored")._value.get()


def test_an_unhandled_type_named_by_its_header_is_ignored_without_decoding(probe_platform) -> None:
    platform = probe_platform(batch=True)
    erased = office("X-1", "O9").model_copy(update={"type": ERASED})
    before = ignored_count(ERASED)
    broker = platform.broker
    broker.append(
        Topics.REFERENCE,
        "office:O1",
        office("E-1", "O1").to_json_bytes(),
        {"ce_type": office("E-1", "O1").type},
    )
    broker.append(Topics.REFERENCE, "C-1", erased.to_json_bytes(), {"ce_type": ERASED})
    broker.append(Topics.REFERENCE, "C-2", b"\x00 not json at all", {"ce_type": ERASED})
    platform.run_until_quiet()

    first = platform.results[0]
    assert (first.processed, first.ignored, first.dead_lettered) == (1, 2, 0)
    assert ignored_count(ERASED) - before == 2
    assert Topics.DEAD_LETTER not in broker.topics or not broker.topics[Topics.DEAD_LETTER]
    # the office's inbox row and its answer's (an agency, handled and ignored by the handler): nothing else
    assert inbox_rows(platform) == 2
    assert [row[3] for row in seen(platform)] == ["O1"]


def test_records_without_the_header_are_decoded_as_before(probe_platform) -> None:
    platform = probe_platform(batch=True)
    erased = office("X-1", "O9").with_data(
        {"customer_id": "CUS-1", "requested_at": "2026-01-05T15:00:00Z"}, type=ERASED
    )
    broker = platform.broker
    broker.append(Topics.REFERENCE, "C-1", erased.to_json_bytes(), {})
    broker.append(Topics.REFERENCE, "C-2", b"\x00 not json at all", {})
    platform.run_until_quiet()

    first = platform.results[0]
    assert (first.processed, first.ignored, first.dead_lettered) == (0, 1, 1)
    (letter,) = broker.topics[Topics.DEAD_LETTER]
    assert letter.record.value == b"\x00 not json at all"
    assert inbox_rows(platform) == 0


def test_a_handled_type_in_the_header_is_decoded_and_a_malformed_one_dead_lettered(probe_platform) -> None:
    platform = probe_platform(batch=True)
    broker = platform.broker
    broker.append(Topics.REFERENCE, "office:O1", b"{broken", {"ce_type": "cobranza.reference.upserted"})
    platform.run_until_quiet()

    assert platform.results[0].dead_lettered == 1
    assert len(broker.topics[Topics.DEAD_LETTER]) == 1
