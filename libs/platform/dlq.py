"""Inspecting and replaying the dead-letter topic."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, Producer

from libs.events.catalog import Topics
from libs.runtime.transport.kafka import producer_config


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    key: str | None
    value: bytes
    headers: dict[str, str]

    @property
    def reason(self) -> str:
        return self.headers.get("dlq_reason", "")

    def summary(self) -> dict[str, object]:
        return {
            "offset": self.offset,
            "service": self.headers.get("dlq_service"),
            "topic": self.headers.get("dlq_topic"),
            "source_offset": self.headers.get("dlq_offset"),
            "event_id": self.headers.get("dlq_event_id"),
            "event_type": self.headers.get("dlq_event_type"),
            "kind": self.headers.get("dlq_kind"),
            "reason": self.reason,
            "at": self.headers.get("dlq_at"),
            "value": self.value.decode(errors="replace"),
        }


def read_dead_letters(bootstrap: str, timeout: float = 10.0) -> Iterator[DeadLetter]:
    """Everything on the dead-letter topic, oldest first (a throwaway group, nothing committed)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"cobranza-dlq-reader-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe([Topics.DEAD_LETTER])
    deadline = time.monotonic() + timeout
    assigned_eof = False
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    assigned_eof = True
                    break
                continue
            deadline = time.monotonic() + 3
            headers = {
                k: v.decode(errors="replace") if isinstance(v, bytes) else str(v or "")
                for k, v in (msg.headers() or [])
            }
            yield DeadLetter(
                msg.offset() or 0, (msg.key() or b"").decode() or None, msg.value() or b"", headers
            )
        _ = assigned_eof
    finally:
        consumer.close()


def replay(bootstrap: str, letters: list[DeadLetter]) -> int:
    """Send the original bytes back to the topic they came from; consumers' inboxes drop repeats."""
    producer = Producer(producer_config(bootstrap, "cobranza-dlq-replay"))
    sent = 0
    for letter in letters:
        topic = letter.headers.get("dlq_topic")
        if not topic:
            continue
        producer.produce(
            topic,
            value=letter.value,
            key=letter.key.encode() if letter.key else None,
            headers=[("dlq_replayed_from", str(letter.offset).encode())],
        )
        sent += 1
    producer.flush(30)
    return sent
