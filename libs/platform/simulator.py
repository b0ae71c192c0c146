"""``cobranza simulate``: every service in one process on the in-memory transport and a simulated clock.

Input events go to the inbound topic as a core system would publish them, in
time slices: every input event due before the next timer or the next (UTC) day
boundary is published at once, with the clock at the slice's last event, and the
services take what waits for them on all their topics, in publication order, as
batches (all of it, or ``batch_size`` at a time; ``batch_size=1`` is one event at
a time). Timers fire at their simulated
times, before any input event at or after them. Every event a service emits is
written to OUT in emission order. Deterministic.
"""

from __future__ import annotations

import json
import logging
import uuid
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO, overload

from pydantic import ValidationError
from sqlalchemy import create_engine, text

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.events.registry import format_validation_error
from libs.platform.databases import fresh_database
from libs.platform.embedded import EmbeddedPostgres
from libs.platform.registry import available_specs
from libs.runtime.clock import SimulatedClock
from libs.runtime.context import ServiceContext
from libs.runtime.db import drop_database
from libs.runtime.ids import SequentialIdFactory
from libs.runtime.service import ServiceSpec
from libs.runtime.settings import PlatformSettings, sqlalchemy_url
from libs.runtime.transport.memory import InMemoryPlatform, MemoryBroker, Published

log = logging.getLogger(__name__)

INTERNAL_TOPICS = {Topics.INBOUND, Topics.DEAD_LETTER}
MERGE_TOPICS = True
"""A simulation delivers each service's topics merged, in publication order (one batch per service
per step; tests/integration/runtime/test_simulator_batching.py holds it equal to one event at a time
in the same order); ``False``: one batch per topic, topics in name order."""


class SimulationInputError(ValueError):
    pass


@dataclass(frozen=True)
class InputEvent:
    line: int
    envelope: Envelope


def read_events(path: Path) -> list[InputEvent]:
    events = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                events.append(InputEvent(number, Envelope.from_json(line)))
            except ValidationError as exc:
                raise SimulationInputError(f"{path}:{number}: {format_validation_error(exc)}") from exc
    events.sort(key=lambda e: (e.envelope.time, e.line))
    return events


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


class IndexedEvents(Sequence[InputEvent]):
    """A portfolio file validated once, held as (time, line, byte offset) and parsed again on access.

    What ``read_events`` gives (every line checked up front, time order, ties in line order) at
    24 bytes an event instead of a parsed envelope each, so a year of 100,000 accounts fits in
    memory. Lines are read back by offset when their slice is fed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        times, lines, offsets = array("q"), array("q"), array("q")
        with path.open("rb") as handle:
            offset = 0
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    try:
                        envelope = Envelope.from_json(raw)
                    except ValidationError as exc:
                        raise SimulationInputError(
                            f"{path}:{number}: {format_validation_error(exc)}"
                        ) from exc
                    times.append(_micros(envelope.time))
                    lines.append(number)
                    offsets.append(offset)
                offset += len(raw)
        if any(times[k] > times[k + 1] for k in range(len(times) - 1)):
            order = sorted(range(len(times)), key=lambda k: (times[k], lines[k]))
            times = array("q", (times[k] for k in order))
            lines = array("q", (lines[k] for k in order))
            offsets = array("q", (offsets[k] for k in order))
        self.times, self.lines, self.offsets = times, lines, offsets
        self._handle = path.open("rb")

    def __len__(self) -> int:
        return len(self.times)

    def time_at(self, k: int) -> datetime:
        return _EPOCH + timedelta(microseconds=self.times[k])

    def _parse(self, k: int) -> InputEvent:
        self._handle.seek(self.offsets[k])
        return InputEvent(self.lines[k], Envelope.from_json(self._handle.readline()))

    @overload
    def __getitem__(self, index: int) -> InputEvent: ...

    @overload
    def __getitem__(self, index: slice) -> list[InputEvent]: ...

    def __getitem__(self, index: int | slice) -> InputEvent | list[InputEvent]:
        if isinstance(index, slice):
            return [self._parse(k) for k in range(*index.indices(len(self)))]
        return self._parse(range(len(self))[index])

    def close(self) -> None:
        self._handle.close()


def _time_at(events: Sequence[InputEvent], k: int) -> datetime:
    return events.time_at(k) if isinstance(events, IndexedEvents) else events[k].envelope.time


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@contextmanager
def database_server(settings: PlatformSettings) -> Iterator[str]:
    if settings.database_url:
        yield settings.database_url
        return
    pg = EmbeddedPostgres(settings.state_dir / "pgdata")
    url = pg.start()
    try:
        yield url
    finally:
        pg.stop()


def throwaway_commits(server_url: str, db_name: str) -> None:
    """``synchronous_commit = off`` for every later connection to the simulation's own database.

    The database is created for one run and dropped at its end, so a commit need not wait for its
    WAL to reach the disk: a crash loses the run either way. Atomicity and isolation are unchanged.
    """
    engine = create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT", hide_parameters=True)
    try:
        with engine.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{db_name}" SET synchronous_commit = off'))
    finally:
        engine.dispose()


class Simulation:
    def __init__(
        self,
        server_url: str,
        start: datetime,
        *,
        config_dir: Path | None = None,
        specs: list[ServiceSpec] | None = None,
        settings: PlatformSettings | None = None,
        batch_size: int | None = None,
        retain_log: bool = True,
        merge_topics: bool = MERGE_TOPICS,
    ) -> None:
        """``retain_log=False``: the broker keeps no history (``broker.log``, read records), for long runs.

        ``merge_topics``: each service takes what waits on all its topics as one batch, in publication
        order (``InMemoryPlatform``); otherwise one batch per topic."""
        self.server_url = server_url
        self.specs = specs or available_specs()
        self.db_name = f"cobranza_sim_{uuid.uuid4().hex[:10]}"
        self.db_url = fresh_database(server_url, self.specs, self.db_name)
        throwaway_commits(server_url, self.db_name)
        self.clock = SimulatedClock(start)
        self.broker = MemoryBroker(self.clock, retain=retain_log)
        settings = settings or PlatformSettings()
        ids = SequentialIdFactory("simulate")
        self.contexts = []
        for spec in self.specs:
            ctx = ServiceContext.create(
                spec, self.db_url, clock=self.clock, ids=ids, settings=settings, pool_size=2, pre_ping=False
            )
            ctx.extras["config_dir"] = config_dir
            self.contexts.append(ctx)
        self.platform = InMemoryPlatform(
            self.contexts,
            self.broker,
            self.clock,
            batch_size=batch_size,
            commits_reported=True,
            merge_topics=merge_topics,
        )

    def feed(self, envelope: Envelope) -> None:
        """One input event at its own time (after every timer due by then)."""
        self.platform.advance_to(envelope.time)
        self.feed_slice([envelope])

    def slice_end(self) -> datetime:
        """Where the slice starting now ends: the next timer or the next UTC midnight, whichever is first."""
        now = self.clock.now()
        boundary = day_start(now.astimezone(UTC).date() + timedelta(days=1))
        timer = self.platform.next_timer_at()
        return min(boundary, timer) if timer is not None else boundary

    def feed_slice(self, envelopes: Sequence[InputEvent | Envelope]) -> None:
        """Publish a slice's input events at once, the clock at its last one, and let the services settle."""
        items = [e.envelope if isinstance(e, InputEvent) else e for e in envelopes]
        if not items:
            return
        self.clock.advance_to(max(e.time for e in items))
        self.platform.publish_many(items, Topics.INBOUND)
        self.platform.run_until_quiet()

    def run(self, events: Sequence[InputEvent], finish: datetime) -> None:
        """Every input event up to ``finish`` in time slices, then the timers up to ``finish``."""
        i = 0
        while i < len(events):
            first = _time_at(events, i)
            if first > finish:
                break
            self.platform.advance_to(first)  # timers due by then fire first
            end = min(self.slice_end(), finish + timedelta(microseconds=1))
            j = i + 1
            while j < len(events) and _time_at(events, j) < end:
                j += 1
            self.feed_slice(events[i:j])
            i = j
        self.platform.advance_to(finish)

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.dispose()
        drop_database(self.server_url, self.db_name)


def run_simulation(
    events_path: Path,
    start: date,
    end: date,
    out_path: Path,
    config_dir: Path | None = None,
    settings: PlatformSettings | None = None,
    batch_size: int | None = None,
) -> int:
    if end < start:
        raise SimulationInputError("--end is before --start")
    settings = settings or PlatformSettings()
    events = IndexedEvents(events_path)
    finish = day_start(end + timedelta(days=1)) - timedelta(microseconds=1)
    written = 0
    with database_server(settings) as server, out_path.open("w", encoding="utf-8") as out:
        sim = Simulation(
            server,
            day_start(start),
            config_dir=config_dir,
            settings=settings,
            batch_size=batch_size,
            retain_log=False,
        )

        def write(published: Published, sink: IO[str] = out) -> None:
            nonlocal written
            if published.record.topic in INTERNAL_TOPICS or published.record.value is None:
                return
            sink.write(json.dumps(json.loads(published.record.value), separators=(",", ":")) + "\n")
            written += 1

        sim.broker.listeners.append(write)
        try:
            late = _micros(finish)
            for k in range(len(events)):
                if events.times[k] > late:
                    log.warning("line %s is after --end; not delivered", events.lines[k])
            sim.run(events, finish)
        finally:
            sim.close()
            events.close()
    return written
