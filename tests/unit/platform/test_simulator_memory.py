"""The simulator's memory follows the backlog: input indexed by offset, read records released."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from libs.platform.demo.portfolio import DemoSpec
from libs.platform.demo.stream import generate
from libs.platform.simulator import IndexedEvents, SimulationInputError, read_events
from libs.runtime.clock import SimulatedClock
from libs.runtime.transport.memory import MemoryBroker, Published


def _portfolio(tmp_path: Path, shuffle: bool) -> Path:
    out = io.StringIO()
    generate(DemoSpec(accounts=6, months=2, seed=5), out)
    lines = out.getvalue().splitlines()
    if shuffle:  # out of time order, with a blank line and equal times kept in line order
        lines = [*lines[::-1], ""]
    path = tmp_path / "portfolio.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("shuffle", [False, True])
def test_indexed_events_are_read_events(tmp_path: Path, shuffle: bool) -> None:
    path = _portfolio(tmp_path, shuffle)
    expected = read_events(path)
    indexed = IndexedEvents(path)
    try:
        assert len(indexed) == len(expected) > 20
        assert indexed[:] == expected
        assert [indexed.time_at(k) for k in range(len(indexed))] == [e.envelope.time for e in expected]
        assert indexed[3] == expected[3] and indexed[-1] == expected[-1]
        assert indexed[5:9] == expected[5:9]
    finally:
        indexed.close()


def test_indexed_events_report_the_bad_line(tmp_path: Path) -> None:
    path = _portfolio(tmp_path, shuffle=False)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[4] = json.dumps({**json.loads(lines[4]), "time": "yesterday"})
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(SimulationInputError, match=r"portfolio\.jsonl:5: "):
        IndexedEvents(path)


def test_a_broker_without_history_releases_what_was_read() -> None:
    broker = MemoryBroker(SimulatedClock(datetime(2026, 1, 1, tzinfo=UTC)), retain=False)
    seen: list[Published] = []
    broker.listeners.append(seen.append)
    for n in range(5):
        broker.append("t", f"k{n}", f"v{n}".encode())
    broker.release("t", 3)
    assert [r.offset for r in broker.read("t", 3)] == [3, 4]
    assert [r.value for r in broker.read("t", 4)] == [b"v4"]
    assert broker.append("t", "k5", b"v5").offset == 5
    assert broker.end("t") == 6 and len(broker.topics["t"]) == 3
    assert broker.log == [] and len(seen) == 6  # listeners still see everything
    broker.release("t", 99)
    assert broker.read("t", 6) == [] and broker.end("t") == 6


def test_a_retaining_broker_keeps_everything() -> None:
    broker = MemoryBroker()
    for _ in range(3):
        broker.append("t", None, b"v")
    broker.release("t", 3)
    assert len(broker.topics["t"]) == 3 and len(broker.log) == 3
    assert [r.offset for r in broker.read("t", 1)] == [1, 2]
