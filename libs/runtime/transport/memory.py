"""The in-memory transport: a broker in a list, and a driver that runs services in one process.

Same processor, relay and timers as on Kafka; only the broker differs. Delivery
order is deterministic (services in declaration order, records in append
order), time is a ``SimulatedClock``, so the same input gives the same output.
Each round hands a service everything waiting on a topic as one batch (or in
batches of ``batch_size``; ``batch_size=1`` is one event at a time, the
reference batch processing is tested against).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from libs.events.envelope import Envelope
from libs.runtime.clock import SimulatedClock
from libs.runtime.context import ServiceContext
from libs.runtime.processor import BatchResult, EventProcessor
from libs.runtime.relay import OutboxRelay
from libs.runtime.timers import TimerRunner
from libs.runtime.transport.base import OutgoingRecord, Record


@dataclass(frozen=True)
class Published:
    record: Record
    at: datetime
    headers: dict[str, str]


class MemoryBroker:
    """Topics as lists. ``retain=False`` (a long simulation) keeps no ``log`` and lets the platform
    ``release`` what every subscriber has read, so memory follows the backlog, not the history;
    ``topics[t]`` then holds the records from ``base[t]`` on (offsets stay absolute)."""

    def __init__(self, clock: SimulatedClock | None = None, *, retain: bool = True) -> None:
        self.topics: dict[str, list[Published]] = defaultdict(list)
        self.base: dict[str, int] = defaultdict(int)
        self.log: list[Published] = []
        self.retain = retain
        self.clock = clock
        self.listeners: list[Callable[[Published], None]] = []

    def append(
        self, topic: str, key: str | None, value: bytes, headers: dict[str, str] | None = None
    ) -> Record:
        records = self.topics[topic]
        record = Record(
            topic,
            0,
            self.base[topic] + len(records),
            key.encode() if key else None,
            value,
            [(k, v.encode()) for k, v in (headers or {}).items()],
        )
        published = Published(record, self.clock.now() if self.clock else datetime.min, headers or {})
        records.append(published)
        if self.retain:
            self.log.append(published)
        for listener in self.listeners:
            listener(published)
        return record

    def end(self, topic: str) -> int:
        return self.base[topic] + len(self.topics.get(topic, ()))

    def release(self, topic: str, offset: int) -> None:
        """Forget the records before ``offset`` (every subscriber is past them); only without ``retain``."""
        drop = min(offset, self.end(topic)) - self.base[topic]
        if self.retain or drop <= 0:
            return
        del self.topics[topic][:drop]
        self.base[topic] += drop

    def publish(self, records: list[OutgoingRecord]) -> list[str | None]:
        for r in records:
            self.append(r.topic, r.key, r.value, r.headers)
        return [None] * len(records)

    def read(self, topic: str, offset: int) -> list[Record]:
        return [p.record for p in self.topics.get(topic, [])[offset - self.base[topic] :]]


class InMemoryPlatform:
    """Services wired to one MemoryBroker; call ``run_until_quiet`` after feeding input."""

    def __init__(
        self,
        contexts: Iterable[ServiceContext],
        broker: MemoryBroker,
        clock: SimulatedClock,
        *,
        batch_size: int | None = None,
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise ValueError("batch_size is at least 1 (None: everything waiting, in one batch)")
        self.batch_size = batch_size
        self.contexts = list(contexts)
        self.broker = broker
        self.clock = clock
        self.processors = {c.name: EventProcessor(c) for c in self.contexts}
        self.relays = {c.name: OutboxRelay(c, broker) for c in self.contexts}
        self.timers = {c.name: TimerRunner(c) for c in self.contexts}
        self.offsets: dict[tuple[str, str], int] = defaultdict(int)
        self._subscribers: dict[str, list[str]] = defaultdict(list)
        for ctx in self.contexts:
            for topic in ctx.spec.topics:
                self._subscribers[topic].append(ctx.name)
        self.results: list[BatchResult] = []
        # a service that committed since we last looked may have outbox rows or timers: only those are
        # asked again (a round asks seven relays and timer tables otherwise, for nothing)
        self._committed: set[str] = set()
        self._timers_stale: set[str] = set()
        self._next_fire: dict[str, datetime | None] = {}
        for ctx in self.contexts:
            ctx.on_commit.append(partial(self._changed, ctx.name))

    def _changed(self, name: str) -> None:
        self._committed.add(name)
        self._timers_stale.add(name)

    def context(self, name: str) -> ServiceContext:
        for ctx in self.contexts:
            if ctx.name == name:
                return ctx
        raise KeyError(name)

    def publish(self, envelope: Envelope, topic: str) -> None:
        self.broker.append(topic, envelope.subject, envelope.to_json_bytes(), {"ce_type": envelope.type})

    def publish_many(self, envelopes: Iterable[Envelope], topic: str) -> None:
        for envelope in envelopes:
            self.publish(envelope, topic)

    def _deliver_once(self, relay_all: bool = False) -> bool:
        progressed = False
        for ctx in self.contexts:
            for topic in ctx.spec.topics:
                offset = self.offsets[(ctx.name, topic)]
                records = self.broker.read(topic, offset)
                if not records:
                    continue
                step = self.batch_size or len(records)
                for start in range(0, len(records), step):
                    batch = records[start : start + step]
                    self.results.append(self.processors[ctx.name].process(batch))
                    self.offsets[(ctx.name, topic)] += len(batch)
                progressed = True
            if relay_all or ctx.name in self._committed:
                self._committed.discard(ctx.name)
                if self.relays[ctx.name].drain():
                    progressed = True
        return progressed

    def run_until_quiet(self, max_rounds: int = 10_000) -> None:
        """Deliver and relay until nothing moves (every relay once, for rows committed behind our back)."""
        self._settle(max_rounds, relay_all=True)
        self._release_read()

    def _release_read(self) -> None:
        """A broker that does not retain its history forgets what every subscriber has read."""
        if self.broker.retain:
            return
        for topic in list(self.broker.topics):
            readers = [self.offsets[(name, topic)] for name in self._subscribers.get(topic, ())]
            self.broker.release(topic, min(readers) if readers else self.broker.end(topic))

    def _settle(self, max_rounds: int = 10_000, *, relay_all: bool = False) -> None:
        for round_ in range(max_rounds):
            if not self._deliver_once(relay_all=relay_all and round_ == 0):
                return
        raise RuntimeError("the in-memory platform did not settle: a feedback loop between services?")

    def _next_fire_of(self, name: str) -> datetime | None:
        """A service's next timer, asked again only after it committed something."""
        if name in self._timers_stale or name not in self._next_fire:
            self._timers_stale.discard(name)
            self._next_fire[name] = self.timers[name].next_fire_at()
        return self._next_fire[name]

    def next_timer_at(self) -> datetime | None:
        times = [t for t in (self._next_fire_of(name) for name in self.timers) if t is not None]
        return min(times) if times else None

    def advance_to(self, moment: datetime) -> None:
        """Fire, in time order, every timer due up to ``moment``, then set the clock there."""
        self._timers_stale.update(self.timers)  # timers a test wrote behind the runtime's back count too
        self.run_until_quiet()
        while True:
            due = self.next_timer_at()
            if due is None or due > moment:
                break
            self.clock.advance_to(due)
            for name, runner in self.timers.items():
                fire = self._next_fire_of(name)
                if fire is not None and fire <= due:
                    runner.run_due(due)
                    self._timers_stale.add(name)
            self._settle()
        self.clock.advance_to(moment)
        self._settle()
