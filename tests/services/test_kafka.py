"""The Kafka behind `kafka_bootstrap` is a real broker.

The service publishes with an idempotent producer and acks=all (see ARCHITECTURE.md), so the broker
must grant producer ids (InitProducerId) and accept acks=all with its single replica; the
consumer must get back every record, in order per key.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

RECORDS = 60
KEYS = ("task-a", "task-b", "task-c")
PARTITIONS = 3


def _quiet() -> logging.Logger:
    logger = logging.getLogger("tests.kafka")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


@pytest.fixture
def topic(kafka_bootstrap: str) -> Iterator[str]:
    """A fresh topic with several partitions, deleted afterwards."""
    name = f"test.{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap}, logger=_quiet())
    admin.create_topics([NewTopic(name, num_partitions=PARTITIONS, replication_factor=1)])[
        name
    ].result(timeout=30)
    try:
        yield name
    finally:
        admin.delete_topics([name])[name].result(timeout=30)


def _consume(kafka_bootstrap: str, topic: str, count: int, timeout_s: float) -> list[Message]:
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"test-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        },
        logger=_quiet(),
    )
    received: list[Message] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout_s
        while len(received) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            received.append(message)
    finally:
        consumer.close()
    return received


def test_broker_runs_kraft_on_loopback(kafka_bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap}, logger=_quiet())
    metadata = admin.list_topics(timeout=10)
    assert [(str(b.host), b.port) for b in metadata.brokers.values()] == [
        ("127.0.0.1", int(kafka_bootstrap.rsplit(":", 1)[1]))
    ]
    # KRaft only: a ZooKeeper-era broker has no controller quorum to describe.
    assert admin.describe_cluster().result(timeout=10).controller is not None


def test_idempotent_acks_all_producer_round_trip(kafka_bootstrap: str, topic: str) -> None:
    stats: list[dict[str, Any]] = []
    producer = Producer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "statistics.interval.ms": 100,
            "stats_cb": lambda raw: stats.append(json.loads(raw)),
        },
        logger=_quiet(),
    )
    failures: list[KafkaError] = []
    delivered: list[Message] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            failures.append(error)
        else:
            delivered.append(message)

    for sequence in range(RECORDS):
        key = KEYS[sequence % len(KEYS)]
        producer.produce(topic, key=key, value=str(sequence), on_delivery=on_delivery)
    assert producer.flush(30) == 0
    # Statistics arrive every 100 ms through poll(); wait for one taken after the deliveries.
    seen = len(stats)
    deadline = time.monotonic() + 10
    while len(stats) == seen and time.monotonic() < deadline:
        producer.poll(0.1)

    assert failures == []
    assert len(delivered) == RECORDS
    # The broker granted a producer id: idempotence is really in force, not silently dropped.
    eos = stats[-1]["eos"]
    assert eos["idemp_state"] == "Assigned"
    assert eos["producer_id"] >= 0

    received = _consume(kafka_bootstrap, topic, RECORDS, timeout_s=60)
    assert len(received) == RECORDS
    by_key: dict[str, list[int]] = {}
    for message in received:
        raw_key, raw_value = message.key(), message.value()
        assert isinstance(raw_key, bytes)
        assert isinstance(raw_value, bytes)
        by_key.setdefault(raw_key.decode(), []).append(int(raw_value.decode()))
    for index, key in enumerate(KEYS):
        # Same key, same partition: the broker keeps the order in which they were produced.
        assert by_key[key] == list(range(index, RECORDS, len(KEYS)))


def test_producing_to_a_new_topic_creates_it(kafka_bootstrap: str) -> None:
    name = f"test.auto.{uuid.uuid4().hex[:12]}"
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True, "acks": "all"},
        logger=_quiet(),
    )
    producer.produce(name, key="k", value="v")
    assert producer.flush(30) == 0
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap}, logger=_quiet())
    try:
        assert len(admin.list_topics(name, timeout=10).topics[name].partitions) == PARTITIONS
    finally:
        admin.delete_topics([name])[name].result(timeout=30)
