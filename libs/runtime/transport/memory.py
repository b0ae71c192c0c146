"""The in-memory transport: a broker in a list, and a driver that runs services in one process.

Same processor, relay and timers as on Kafka; only the broker differs. Delivery
order is deterministic, time is a ``SimulatedClock``, so the same input gives the
same output. A service is handed everything waiting for it on a topic as one
batch (its topics in name order), or in batches of ``batch_size`` (``batch_size=1``
is one event at a time, the reference batch processing is tested against).

Which service goes next: the one with waiting input that no other service with
waiting input feeds, directly or through others (learned from who publishes on
which topic as the platform runs; services in a cycle, and ties, in declaration
order). So a service waits until what flows to it in the current step has
arrived, and takes it as one batch instead of one per upstream hop: a step costs
about one transaction per service, not one per service per round.
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
    seq: int = 0
    """Position in the broker's publication order, across topics."""


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
        self.published = 0
        """How many records were ever appended (the next record's ``seq``)."""

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
        published = Published(
            record, self.clock.now() if self.clock else datetime.min, headers or {}, self.published
        )
        self.published += 1
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

    def pending(self, topic: str, offset: int) -> list[Published]:
        """What ``read`` gives, with each record's publication order."""
        return self.topics.get(topic, [])[offset - self.base[topic] :]


class InMemoryPlatform:
    """Services wired to one MemoryBroker; call ``run_until_quiet`` after feeding input."""

    RELAY_ROWS = 10_000
    """Outbox rows a relay round publishes at once (one statement) when the publisher is the broker."""

    def __init__(
        self,
        contexts: Iterable[ServiceContext],
        broker: MemoryBroker,
        clock: SimulatedClock,
        *,
        batch_size: int | None = None,
        commits_reported: bool = False,
        merge_topics: bool = False,
    ) -> None:
        """``merge_topics``: a service's topics delivered together, in publication order (see above).

        ``commits_reported``: every commit goes through the runtime (the simulator: no API, no test
        writing behind its back), so only services that reported one are relayed and asked for timers;
        otherwise every relay and timer table is looked at once per ``run_until_quiet``/``advance_to``."""
        self.commits_reported = commits_reported
        if batch_size is not None and batch_size < 1:
            raise ValueError("batch_size is at least 1 (None: everything waiting, in one batch)")
        self.batch_size = batch_size
        self.merge_topics = merge_topics
        self.contexts = list(contexts)
        self.broker = broker
        self.clock = clock
        self.processors = {c.name: EventProcessor(c) for c in self.contexts}
        self.relays = {c.name: OutboxRelay(c, broker) for c in self.contexts}
        self.timers = {c.name: TimerRunner(c) for c in self.contexts}
        self.offsets: dict[tuple[str, str], int] = defaultdict(int)
        self._subscribers: dict[str, list[str]] = defaultdict(list)
        self._topics = {ctx.name: ctx.spec.topics for ctx in self.contexts}
        for ctx in self.contexts:
            for topic in ctx.spec.topics:
                self._subscribers[topic].append(ctx.name)
        self.results: list[BatchResult] = []
        # a service that committed since we last looked may have outbox rows or timers: only those are
        # asked again (a step asks seven relays and timer tables otherwise, for nothing)
        self._committed: set[str] = set()
        self._timers_stale: set[str] = set()
        self._next_fire: dict[str, datetime | None] = {}
        for ctx in self.contexts:
            ctx.on_commit.append(partial(self._changed, ctx.name))
        # who feeds whom, learned from what each relay publishes: the order services are handed input
        self._relaying: str | None = None
        self._feeds: dict[str, set[str]] = defaultdict(set)
        self._rank: dict[str, tuple[int, int]] = {}
        self._rank_stale = True
        broker.listeners.append(self._learn)

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

    # -- who goes next ---------------------------------------------------------------------------
    def _learn(self, published: Published) -> None:
        """A record a relay publishes makes its service a feeder of the topic's subscribers."""
        source = self._relaying
        if source is None:
            return
        feeds = self._feeds[source]
        for consumer in self._subscribers.get(published.record.topic, ()):
            if consumer not in feeds:
                feeds.add(consumer)
                self._rank_stale = True

    @property
    def feeds(self) -> dict[str, set[str]]:
        """Who feeds whom so far: a service to the services subscribed to topics it published on."""
        return {name: set(consumers) for name, consumers in self._feeds.items()}

    def _ranks(self) -> dict[str, tuple[int, int]]:
        """(how many services feed this one without it feeding them back, declaration index).

        A service's strict feeders are a strict subset of those of any service it feeds outside its
        cycle, so the smallest rank with waiting input has no feeder with waiting input.
        """
        if self._rank_stale:
            names = [c.name for c in self.contexts]
            reach = {n: self._reachable(n) for n in names}
            self._rank = {
                n: (sum(1 for m in names if m != n and n in reach[m] and m not in reach[n]), k)
                for k, n in enumerate(names)
            }
            self._rank_stale = False
        return self._rank

    def _reachable(self, start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for nxt in self._feeds.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    def _waiting(self, name: str) -> bool:
        return any(self.offsets[(name, t)] < self.broker.end(t) for t in self._topics[name])

    def _next_ready(self) -> str | None:
        waiting = [c.name for c in self.contexts if self._waiting(c.name)]
        if not waiting:
            return None
        ranks = self._ranks()
        return min(waiting, key=ranks.__getitem__)

    # -- delivering and relaying -----------------------------------------------------------------
    def _deliver(self, name: str) -> None:
        """Everything waiting for the service, topic by topic (in name order), as batches."""
        if self.merge_topics:
            self._deliver_merged(name)
            return
        processor = self.processors[name]
        for topic in self._topics[name]:
            records = self.broker.read(topic, self.offsets[(name, topic)])
            if not records:
                continue
            step = self.batch_size or len(records)
            for start in range(0, len(records), step):
                batch = records[start : start + step]
                self.results.append(processor.process(batch))
                self.offsets[(name, topic)] += len(batch)

    def _deliver_merged(self, name: str) -> None:
        """Everything waiting for the service on all its topics, in publication order, as batches."""
        processor = self.processors[name]
        waiting = sorted(
            (
                p
                for topic in self._topics[name]
                for p in self.broker.pending(topic, self.offsets[(name, topic)])
            ),
            key=lambda p: p.seq,
        )
        if not waiting:
            return
        step = self.batch_size or len(waiting)
        for start in range(0, len(waiting), step):
            batch = waiting[start : start + step]
            self.results.append(processor.process([p.record for p in batch]))
            for p in batch:
                self.offsets[(name, p.record.topic)] += 1

    def _relay(self, name: str) -> bool:
        relay = self.relays[name]
        self._relaying = name
        try:
            if relay.publisher is self.broker:  # takes every record: one statement a round
                return relay.relay_in_process(self.RELAY_ROWS) > 0
            return relay.drain() > 0
        finally:
            self._relaying = None

    def _relay_committed(self) -> None:
        for ctx in self.contexts:
            if ctx.name in self._committed:
                self._committed.discard(ctx.name)
                self._relay(ctx.name)

    def run_until_quiet(self, max_rounds: int = 10_000) -> None:
        """Deliver and relay until nothing moves (every relay once, for rows committed behind our back)."""
        self._settle(max_rounds, relay_all=not self.commits_reported)
        self._release_read()

    def _release_read(self) -> None:
        """A broker that does not retain its history forgets what every subscriber has read."""
        if self.broker.retain:
            return
        for topic in list(self.broker.topics):
            readers = [self.offsets[(name, topic)] for name in self._subscribers.get(topic, ())]
            self.broker.release(topic, min(readers) if readers else self.broker.end(topic))

    def _settle(self, max_rounds: int = 10_000, *, relay_all: bool = False) -> None:
        """Relay what was committed, hand the next ready service its input; until nobody has any.

        ``max_rounds`` bounds the deliveries per service (a feedback loop between services never ends).
        """
        if relay_all:
            self._committed.update(c.name for c in self.contexts)
        for _ in range(max_rounds * max(1, len(self.contexts))):
            self._relay_committed()
            name = self._next_ready()
            if name is None:
                return
            self._deliver(name)
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
        if not self.commits_reported:  # timers a test wrote behind the runtime's back count too
            self._timers_stale.update(self.timers)
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
