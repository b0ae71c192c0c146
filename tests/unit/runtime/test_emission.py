"""Emission builds each envelope once, without validating it a second time, and still refuses bad ones.

A handler's payload is a validated model; the runtime checks what a handler may choose besides it
(subject, id) and that the payload is whole and well typed, and gives exactly the bytes a validated
``Envelope`` would.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic_core import PydanticSerializationError

from libs.events.envelope import Envelope
from libs.events.payloads.accounts import AccountAged
from libs.runtime.clock import SimulatedClock
from libs.runtime.ids import NAMESPACE, SequentialIdFactory, uuid5_text
from libs.runtime.tables import RuntimeTables
from libs.runtime.uow import UnitOfWork

NOW = datetime(2026, 3, 2, 14, tzinfo=UTC)
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class RecordingSession:
    """Stands in for the transaction: keeps the outbox rows ``forward_many`` writes."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def execute(self, statement: Any, rows: list[dict[str, Any]]) -> None:
        self.rows.extend(rows)


def cause(n: int = 1, *, traceparent: str | None = None) -> Envelope:
    return Envelope(
        id=f"E-{n}",
        source="/sources/core",
        type="cobranza.invoice.issued",
        time=NOW,
        subject=f"ACC-{n}",
        data={},
        tenantid="t1",
        correlationid=f"corr-{n}",
        traceparent=traceparent,
    )


def aged(account: str = "ACC-1", **changes: Any) -> AccountAged:
    values: dict[str, Any] = {
        "account_id": account,
        "bucket": "1-30",
        "days_past_due": 3,
        "overdue_amount": Decimal("100.50"),
        "currency": "COP",
        **changes,
    }
    return AccountAged(**values)


def unit(session: RecordingSession, *, batch: bool = True, **kwargs: Any) -> UnitOfWork:
    from sqlalchemy import MetaData

    return UnitOfWork(
        session,  # type: ignore[arg-type]
        service="aging",
        tables=RuntimeTables(MetaData(schema="aging")),
        clock=SimulatedClock(NOW),
        ids=SequentialIdFactory("test"),
        batch=batch,
        tenant="t1",
        **kwargs,
    )


def test_emitted_envelopes_are_what_a_validated_envelope_gives_byte_for_byte() -> None:
    session = RecordingSession()
    uow = unit(session)
    causes = [cause(n, traceparent=TRACE if n % 2 else None) for n in range(6)]
    payloads = [aged(f"ACC-{n}", previous_bucket=None if n % 3 else "current") for n in range(6)]
    uow.emit_many(payloads, causes=causes)

    assert len(session.rows) == len(uow.emitted) == 6
    for envelope, row in zip(uow.emitted, session.rows, strict=True):
        validated = Envelope.model_validate(envelope.model_dump())
        assert envelope == validated
        assert row["value"] == validated.to_json_bytes() == envelope.to_json_bytes()
        assert Envelope.from_json(row["value"]) == validated
        assert row["headers"]["ce_type"] == "cobranza.account.aged"
    assert uow.emitted[1].traceparent == TRACE and uow.emitted[2].traceparent is None
    assert uow.emitted[3].causationid == "E-3" and uow.emitted[3].correlationid == "corr-3"


def test_a_payload_missing_a_required_field_fails_loudly() -> None:
    uow = unit(RecordingSession())
    uow.emit(aged(), cause=cause())  # the first emission of the class, fully validated
    fields: dict[str, Any] = {"account_id": "ACC-1", "bucket": "1-30", "days_past_due": 3, "currency": "COP"}
    broken = AccountAged.model_construct(**fields)
    with pytest.raises(ValueError, match="overdue_amount"):
        uow.emit_many([aged(), broken], causes=[cause(), cause()])


def test_a_payload_holding_a_value_of_the_wrong_type_fails_loudly() -> None:
    uow = unit(RecordingSession())
    uow.emit(aged(), cause=cause())
    fields: dict[str, Any] = {"account_id": "ACC-1", "bucket": "1-30", "days_past_due": 3, "currency": "COP"}
    fields["overdue_amount"] = "lots"
    broken = AccountAged.model_construct(**fields)
    with pytest.raises(PydanticSerializationError):
        uow.emit(broken, cause=cause())


def test_something_that_is_not_a_payload_is_refused() -> None:
    uow = unit(RecordingSession())
    with pytest.raises(TypeError, match="EventPayload"):
        uow.emit_many([{"account_id": "ACC-1"}], causes=[cause()])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("subject", "event_id"),
    [("ACC\x00-1", None), ("A" * 201, None), (None, "x" * 201), (None, "bad\nid"), ("", None)],
)
def test_a_subject_or_id_the_envelope_would_refuse_is_refused_after_the_first_emission(
    subject: str | None, event_id: str | None
) -> None:
    uow = unit(RecordingSession(), batch=False, correlation_id="c")
    uow.emit(aged())  # trusted from here on: the unit's tenant, source and the class's type
    with pytest.raises(ValueError):
        if subject is not None:
            uow.emit(aged(), subject=subject)
        else:
            uow.emit(aged(), event_id=event_id)


def test_the_first_emission_of_a_unit_without_a_cause_validates_its_tenant_and_correlation() -> None:
    uow = unit(RecordingSession(), batch=False, correlation_id="bad\x07correlation")
    with pytest.raises(ValueError, match="control characters"):
        uow.emit(aged())


def test_derived_ids_are_rfc_4122_version_5_uuids() -> None:
    rng = random.Random(8)
    names = ["", "t1|/sources/core|E-1|aging|1", "ñandú|é|€"] + [
        "".join(rng.choice("ab|/-01ñ") for _ in range(rng.randint(1, 60))) for _ in range(500)
    ]
    for name in names:
        assert uuid5_text(name) == str(uuid.uuid5(NAMESPACE, name))
