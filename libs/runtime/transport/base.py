"""What the runtime needs from a broker, so Kafka and the in-memory bus are interchangeable."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    key: str | None
    value: bytes
    headers: dict[str, str]


class PublishError(str):
    """A delivery error's text, marked retriable when the broker (not the record) is at fault."""

    retriable: bool

    def __new__(cls, text: str, *, retriable: bool = False) -> PublishError:
        error = super().__new__(cls, text)
        error.retriable = retriable
        return error


class Publisher(Protocol):
    def publish(self, records: list[OutgoingRecord]) -> list[str | None]:
        """Publish in order; return, per record, None when delivered or the error text."""
        ...
