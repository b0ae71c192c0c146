"""Inspecting and replaying the dead-letter topic."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition

from libs.events.catalog import Topics
from libs.runtime.transport.base import OutgoingRecord
from libs.runtime.transport.kafka import KafkaPublisher, header_items


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


IDLE_S = 1.0


def read_dead_letters(bootstrap: str, prefix: str = "", timeout: float = 10.0) -> Iterator[DeadLetter]:
    """Everything on the dead-letter topic, oldest first (direct partition reads, nothing committed)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "cobranza-dlq-reader",
            "enable.auto.commit": False,
        }
    )
    topic = prefix + Topics.DEAD_LETTER
    try:
        metadata = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return
        for partition in sorted(metadata.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, partition, low)])
            offset = low
            deadline = time.monotonic() + timeout
            idle_since = time.monotonic()
            # the high watermark is only a hint (some Kafka-compatible brokers under-report it for
            # multi-record batches): read on until the partition has been idle for a moment
            while time.monotonic() < deadline and (offset < high or time.monotonic() - idle_since < IDLE_S):
                msg = consumer.poll(0.2)
                if msg is None or msg.error() is not None:
                    continue
                idle_since = time.monotonic()
                offset = (msg.offset() or 0) + 1
                headers = {k: v.decode(errors="replace") for k, v in header_items(msg)}
                key = msg.key()
                yield DeadLetter(
                    msg.offset() or 0, key.decode() if key else None, msg.value() or b"", headers
                )
    finally:
        consumer.close()


def replay(bootstrap: str, letters: list[DeadLetter], prefix: str = "") -> int:
    """Send the original bytes back to the topic they came from; consumers' inboxes drop repeats.

    Returns how many were delivered; raises if the broker refused any, naming the first failure.
    """
    publisher = KafkaPublisher(bootstrap, client_id="cobranza-dlq-replay", topic_prefix=prefix)
    records = [
        OutgoingRecord(topic, letter.key, letter.value, {"dlq_replayed_from": str(letter.offset)})
        for letter in letters
        if (topic := letter.headers.get("dlq_topic"))
    ]
    errors = publisher.publish(records) if records else []
    failed = [e for e in errors if e is not None]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(records)} dead letters were not replayed: {failed[0]}")
    return len(records)
