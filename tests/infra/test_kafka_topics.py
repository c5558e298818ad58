"""The topics Job: idempotent creation and convergence of the four task topics."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from infra.kafka_topics import KafkaTopics, KafkaTopicsArgs, TopicSettings, topics_script
from tests.infra.manifests import build, of_kind, pod_spec

PROD = TopicSettings(partitions=3, replication_factor=3, min_insync_replicas=2)


def _args(settings: TopicSettings = PROD) -> KafkaTopicsArgs:
    return KafkaTopicsArgs(
        namespace="todo-test",
        instance="todo",
        settings=settings,
        image="apache/kafka:4.0.0",
        bootstrap="todo-kafka.todo-test.svc.cluster.local:9092",
        service_account_name="todo-kafka-topics",
    )


def _job(settings: TopicSettings = PROD) -> dict[str, Any]:
    (job,) = of_kind(build(lambda: KafkaTopics("t", _args(settings))), "Job")
    return job


def test_creates_each_task_topic_only_if_missing() -> None:
    script = topics_script(_args())
    for topic in ("task.created", "task.updated", "task.deleted", "task.completed"):
        assert (
            f"--create --if-not-exists --topic {topic} --partitions 3 --replication-factor 3"
            in script
        )
        assert f"--alter --entity-type topics --entity-name {topic}" in script


def test_retention_and_min_isr_converge_on_existing_topics() -> None:
    script = topics_script(_args())
    assert "--add-config min.insync.replicas=2,retention.ms=604800000,segment.ms=86400000" in script


@pytest.mark.parametrize(("retention", "segment"), [(168, 24), (24, 24), (6, 6)])
def test_segments_span_at_most_a_day_so_events_outlive_the_retention_by_at_most_that(
    retention: int, segment: int
) -> None:
    # Kafka deletes whole segments: an event stays readable until its segment's newest one
    # passes the retention. Its default segment span, 7 days, would double prod's retention.
    settings = TopicSettings(retention_hours=retention)
    script = topics_script(_args(settings))
    assert f"--config segment.ms={segment * 3_600_000}" in script
    assert settings.readable_hours == retention + segment + 1


def test_waits_for_the_brokers_first() -> None:
    lines = topics_script(_args()).splitlines()
    assert lines[0] == "set -eu"
    assert lines[1].startswith("until /opt/kafka/bin/kafka-topics.sh")


def test_job_is_named_after_what_it_does() -> None:
    first = _job()["metadata"]["name"]
    assert first.startswith("todo-kafka-topics-")
    assert first == _job()["metadata"]["name"]
    other = TopicSettings(partitions=6, replication_factor=3, min_insync_replicas=2)
    assert _job(other)["metadata"]["name"] != first


def test_job_retries_and_has_a_deadline() -> None:
    job = _job()
    assert job["spec"]["backoffLimit"] == 6
    assert job["spec"]["activeDeadlineSeconds"] == 900
    spec = pod_spec(job)
    assert spec["restartPolicy"] == "OnFailure"
    assert spec["serviceAccountName"] == "todo-kafka-topics"


def test_min_isr_cannot_exceed_replication() -> None:
    with pytest.raises(ValidationError, match=r"minInsyncReplicas=3 exceeds replicationFactor=2"):
        TopicSettings(replication_factor=2, min_insync_replicas=3)
