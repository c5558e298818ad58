"""The physical limit: a bare confluent-kafka producer on the same broker, same-sized events.

The relay can never beat this figure: it pays for the same produce calls plus reading and
marking outbox rows. Measuring both in one run on one broker makes their ratio meaningful.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, Message, Producer


def raw_producer_eps(
    bootstrap: str,
    config: Mapping[str, Any],
    values: Sequence[bytes],
    keys: Sequence[bytes],
    count: int,
    topic: str,
) -> float:
    """Produce `count` messages (cycling through `values` and `keys`), wait for every
    acknowledgement, and return messages per second from the first produce to the last ack."""
    if count <= 0 or not values or not keys:
        raise ValueError("count must be positive and values/keys non-empty")
    producer = Producer({**config, "bootstrap.servers": bootstrap})
    failures: list[str] = []

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failures.append(str(err))

    # Warm up the connection and metadata so the timing covers sending, not connecting.
    producer.produce(topic, value=values[0], key=keys[0], on_delivery=on_delivery)
    producer.flush(30)
    start = time.perf_counter()
    for i in range(count):
        while True:
            try:
                producer.produce(
                    topic,
                    value=values[i % len(values)],
                    key=keys[i % len(keys)],
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                producer.poll(0.005)
        producer.poll(0)
    remaining = producer.flush(120)
    elapsed = time.perf_counter() - start
    if remaining or failures:
        raise RuntimeError(f"raw producer: {remaining} unacknowledged, failures: {failures[:3]}")
    return count / elapsed
