"""Smoke test for a running broker: admin, idempotent + transactional produce, group consume.

    deploy/apache-kafka/run.sh start
    .venv/bin/python deploy/apache-kafka/smoke.py [BOOTSTRAP]   # default: $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:29092

Exits non-zero on the first failure. Creates and deletes its own uniquely named topic.
"""

from __future__ import annotations

import os
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def main() -> int:
    bootstrap = (sys.argv[1] if len(sys.argv) > 1
                 else os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:29092"))
    topic = f"smoke-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    md = admin.list_topics(timeout=10)
    print(f"cluster_id={md.cluster_id} brokers={[str(b) for b in md.brokers.values()]}")

    t0 = time.monotonic()
    for fut in admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)]).values():
        fut.result(15)
    print(f"created {topic} (3 partitions) in {time.monotonic() - t0:.2f}s")

    try:
        # Idempotent producer (enable.idempotence needs InitProducerId + acks=all on the broker).
        p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                      "linger.ms": 5})
        errors: list[str] = []

        def on_delivery(err, msg):  # type: ignore[no-untyped-def]
            if err is not None:
                errors.append(str(err))

        n = 100
        for i in range(n):
            p.produce(topic, key=f"k{i % 7}", value=f"v{i}", on_delivery=on_delivery)
        left = p.flush(15)
        assert left == 0 and not errors, f"idempotent produce failed: left={left} errors={errors[:3]}"
        print(f"idempotent producer: {n} messages acked")

        # Transactional producer (needs the transaction coordinator / __transaction_state topic).
        tp = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"smoke-tx-{topic}"})
        tp.init_transactions(30)
        tp.begin_transaction()
        for i in range(10):
            tp.produce(topic, key="tx", value=f"tx{i}")
        tp.commit_transaction(30)
        tp.begin_transaction()
        tp.produce(topic, key="tx", value="aborted")
        tp.abort_transaction(30)
        print("transactional producer: 10 committed, 1 aborted")

        # Group consumer (needs the group coordinator / __consumer_offsets topic).
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"smoke-{topic}",
                      "auto.offset.reset": "earliest", "enable.auto.commit": False,
                      "isolation.level": "read_committed"})
        c.subscribe([topic])
        got: list[str] = []
        deadline = time.monotonic() + 30
        while len(got) < n + 10 and time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            got.append(msg.value().decode())
        c.commit(asynchronous=False)
        committed = c.committed(c.assignment(), timeout=10)
        c.close()
        assert len(got) == n + 10, f"consumed {len(got)} of {n + 10}"
        assert "aborted" not in got, "read_committed consumer saw an aborted record"
        assert sum(tp_.offset for tp_ in committed if tp_.offset > 0) > 0, "no committed offsets"
        print(f"group consumer: {len(got)} messages, offsets committed, aborted record invisible")
    finally:
        for fut in admin.delete_topics([topic]).values():
            fut.result(15)
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
