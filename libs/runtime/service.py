"""What a service declares to the runtime: its schema, handlers, timers and API."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData

from libs.events.registry import DecodedEvent, model_for
from libs.runtime.tables import RuntimeTables

if TYPE_CHECKING:
    from fastapi import APIRouter

    from libs.runtime.context import ServiceContext
    from libs.runtime.uow import DueTimer, UnitOfWork

Handler = Callable[["DecodedEvent[Any]", "UnitOfWork"], None]
BatchHandler = Callable[[Sequence["DecodedEvent[Any]"], "UnitOfWork"], None]
TimerHandler = Callable[["DueTimer", "UnitOfWork"], None]
BatchTimerHandler = Callable[[Sequence["DueTimer"], "UnitOfWork"], None]
RouterFactory = Callable[["ServiceContext"], "APIRouter"]


@dataclass
class ServiceSpec:
    """Everything the runtime needs to run one service on either transport.

    ``handlers`` map CloudEvents types to plain functions taking one event;
    ``batch_handlers`` map types to functions taking every fresh event of those
    types from one poll batch (in order, one tenant per call) and one unit of
    work. A type has one or the other. The topics to subscribe to follow from the
    catalog. ``raw_topics`` adds topics whose records the service reads without
    a typed model (ingest's inbound topic), one record per call; ``raw_batch_topics``
    the same as batch handlers (the events' payloads are None: the handler reads
    ``envelope.data``), batched, ordered and bisected like ``batch_handlers``.
    """

    name: str
    metadata: MetaData
    migrations_dir: Path
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    timers: Mapping[str, TimerHandler] = field(default_factory=dict)
    routers: tuple[RouterFactory, ...] = ()
    http_port: int = 8000
    raw_topics: Mapping[str, Handler] = field(default_factory=dict)
    description: str = ""
    batch_handlers: Mapping[str, BatchHandler] = field(default_factory=dict)
    raw_batch_topics: Mapping[str, BatchHandler] = field(default_factory=dict)
    batch_timers: Mapping[str, BatchTimerHandler] = field(default_factory=dict)
    """timer names fired as batches (one tenant and name per call; ``libs/runtime/timers.py``)"""

    def __post_init__(self) -> None:
        if self.metadata.schema != self.name:
            raise ValueError(f"service {self.name!r} must keep its tables in schema {self.name!r}")
        both = sorted(set(self.handlers) & set(self.batch_handlers))
        if both:
            raise ValueError(f"service {self.name!r}: {both} have both a handler and a batch handler")
        raw_both = sorted(set(self.raw_topics) & set(self.raw_batch_topics))
        if raw_both:
            raise ValueError(
                f"service {self.name!r}: raw topics {raw_both} have both a handler and a batch handler"
            )
        timers_both = sorted(set(self.timers) & set(self.batch_timers))
        if timers_both:
            raise ValueError(
                f"service {self.name!r}: timers {timers_both} have both a handler and a batch handler"
            )
        self.tables = RuntimeTables(self.metadata)

    @property
    def topics(self) -> list[str]:
        topics = {model_for(event_type).topic for event_type in (*self.handlers, *self.batch_handlers)}
        topics.update(self.raw_topics)
        topics.update(self.raw_batch_topics)
        return sorted(topics)
