"""A bystander Kafka consumer that records every message on the task topics, duplicates included.

The service's own consumer dedupes, so it cannot tell us what actually reached the broker. This
one reads in its own group from the earliest offset and keeps everything, in arrival order per
partition, so a test or a benchmark leg (`bench.guarantees`) can check that every event arrived,
count the duplicates, and compare each task's order with the outbox's.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer, Message


@dataclass(frozen=True)
class Seen:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    event_id: uuid.UUID
    task_id: str
    value: bytes
    key: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]


def _headers(message: Message) -> tuple[tuple[str, bytes | None], ...]:
    """A consumed message's headers, in order (the client hands them as a list of pairs)."""
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return tuple(
        (name, value.encode() if isinstance(value, str) else value) for name, value in pairs
    )


class KafkaObserver:
    def __init__(self, bootstrap: str, topics: Iterable[str]) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"observer-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                # The broker may be killed under us: keep reconnecting quietly.
                "reconnect.backoff.max.ms": 1000,
                # See messages as soon as they are written, not after a 500 ms fetch wait.
                "fetch.wait.max.ms": 10,
            }
        )
        self._topics = list(topics)
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kafka-observer", daemon=True)

    def _run(self) -> None:
        self._consumer.subscribe(self._topics)
        try:
            while not self._stop.is_set():
                for message in self._consumer.consume(num_messages=1000, timeout=0.2):
                    if message.error() is not None:
                        # End of partition, or the broker away: neither is a message.
                        continue
                    value = message.value() or b""
                    event = json.loads(value)
                    seen = Seen(
                        topic=message.topic() or "",
                        partition=message.partition() or 0,
                        offset=message.offset() or 0,
                        timestamp_ms=message.timestamp()[1],
                        event_id=uuid.UUID(event["id"]),
                        task_id=event["subject"],
                        value=value,
                        key=message.key(),
                        headers=_headers(message),
                    )
                    with self._lock:
                        self._seen.append(seen)
        finally:
            self._consumer.close()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def event_ids(self) -> set[uuid.UUID]:
        return {s.event_id for s in self.seen()}

    def __enter__(self) -> KafkaObserver:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
