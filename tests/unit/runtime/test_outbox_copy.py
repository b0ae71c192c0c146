"""``forward_many`` writes large batches with COPY: the same rows, in order, as the multi-row insert."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.runtime.uow import COPY_MIN_ROWS


def _envelope(n: int) -> Envelope:
    return Envelope(
        id=f"E-{n}",
        source="/core/a",
        type="cobranza.reference.upserted",
        time=datetime(2026, 1, 5, 15, tzinfo=UTC),
        subject=None if n % 7 == 0 else f"office:O{n}",
        tenantid="t1" if n % 2 else "t2",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        data={"entity_type": "office", "entity_id": f"O{n}", "name": f"Oficina \\ {n}\t'\"ñ"},
    )


def _outbox(ctx):  # type: ignore[no-untyped-def]
    table = ctx.spec.tables.outbox
    with ctx.sessions() as session:
        rows = session.execute(
            select(table.c.tenant_id, table.c.event_id, table.c.event_type, table.c.topic, table.c.key,
                   table.c.value, table.c.headers, table.c.created_at).order_by(table.c.id)
        ).all()  # fmt: skip
    return [tuple(r) for r in rows]


def test_copy_and_insert_write_the_same_outbox_rows_in_order(probe_platform) -> None:
    written = []
    for size in (COPY_MIN_ROWS - 1, COPY_MIN_ROWS + 50):
        ctx = probe_platform().context("probe")
        envelopes = [_envelope(n) for n in range(size)]
        with ctx.unit_of_work() as uow:
            uow.forward_many([(e, Topics.REFERENCE) for e in envelopes])
            assert uow.emitted == envelopes
        rows = _outbox(ctx)
        assert [r[1] for r in rows] == [e.id for e in envelopes]
        assert [json.loads(r[5]) for r in rows] == [json.loads(e.to_json_bytes()) for e in envelopes]
        written.append(rows)
    small, large = written
    assert large[: len(small)] == small
    assert large[7][4] is None and large[1][6]["traceparent"].startswith("00-0af7")


def test_a_copy_rolls_back_with_its_transaction(probe_platform) -> None:
    ctx = probe_platform().context("probe")
    try:
        with ctx.unit_of_work() as uow:
            uow.forward_many([(_envelope(n), Topics.REFERENCE) for n in range(COPY_MIN_ROWS)])
            raise RuntimeError("the business write failed")
    except RuntimeError:
        pass
    assert _outbox(ctx) == []
