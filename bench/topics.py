"""Kafka topics for one measurement: created up front, deleted afterwards.

Each run publishes under its own topic prefix (the service's TODO_KAFKA_TOPIC_PREFIX), so a run
never reads another run's events and the consumer group starts on empty topics. They are created
before any consumer subscribes, with the partition count of the development broker's task topics,
because a consumer does not create a missing topic and would only see it after a metadata refresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from app.events.cloudevents import EventKind

REFERENCE_TOPIC = "task.created"


def task_topics(prefix: str) -> list[str]:
    return [prefix + kind.topic for kind in EventKind]


def create_topics(
    bootstrap: str, names: Iterable[str], config: Mapping[str, str] | None = None
) -> None:
    """Create the topics that do not exist yet, as many partitions as the reference topic,
    with ``config`` (topic settings) if given."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    metadata = admin.list_topics(timeout=10)
    reference = metadata.topics.get(REFERENCE_TOPIC)
    partitions = len(reference.partitions) if reference is not None else 3
    missing = [
        NewTopic(name, num_partitions=partitions, config=dict(config or {}))
        for name in names
        if name not in metadata.topics
    ]
    if not missing:
        return
    for future in admin.create_topics(missing).values():
        try:
            future.result(timeout=30)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise


def delete_topics(bootstrap: str, names: Iterable[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = admin.list_topics(timeout=10).topics
    doomed = [name for name in names if name in existing]
    if doomed:
        for future in admin.delete_topics(doomed).values():
            future.result(timeout=30)
