"""The service's topics, created by the infra: a Job that converges them on every change.

``kafka-topics.sh --create --if-not-exists`` makes creation idempotent and ``kafka-configs.sh
--alter`` brings retention, segment span and min ISR of existing topics to the declared values,
so running the Job again is always safe. Partition counts are only set at creation: raising
them later would move keys to other partitions and break the per-task ordering the service
relies on.

The Job's name carries a hash of what it does, so a settings change runs a new Job, and
``pulumi up`` waits for it to complete: the topics exist before anything publishes.
"""

from __future__ import annotations

import hashlib
import shlex

import pulumi
import pulumi_kubernetes.batch.v1 as batch
import pulumi_kubernetes.core.v1 as core
from pydantic import Field, model_validator

from infra.component import ComponentArgs, SettingsModel, child_options
from infra.labels import PinnedImage, image_version, selector_labels, standard_labels
from infra.naming import child_name
from infra.security import scratch_volume
from infra.sizes import Size
from infra.workload import container, object_meta, pod_spec, pod_template

TASK_TOPICS: tuple[str, ...] = ("task.created", "task.updated", "task.deleted", "task.completed")
KAFKA_UID = 1000
MAX_SEGMENT_HOURS = 24
"""The longest span of one segment file: seven per partition at prod's 7-day retention."""
_BIN = "/opt/kafka/bin"


class TopicSettings(SettingsModel):
    """How the task topics are laid out (prod: 3 partitions, replication 3, min ISR 2, 7 days)."""

    partitions: int = Field(default=1, ge=1, le=1000, description="Partitions per topic.")
    replication_factor: int = Field(default=1, ge=1, le=9, description="Copies of each partition.")
    min_insync_replicas: int = Field(
        default=1, ge=1, le=9, description="Copies an acks=all write needs before it succeeds."
    )
    retention_hours: int = Field(
        default=168,
        ge=1,
        le=87600,
        description="How long events are kept (168 = 7 days). Kafka deletes whole segments, "
        "each spanning at most min(24, this) hours, so an event stays readable up to that "
        "much longer.",
    )
    size: Size = Field(default="small", description="Resources of the Job's container.")

    @property
    def segment_hours(self) -> int:
        """The longest span of one segment file, after which a partition starts a new one
        (``segment.ms``).

        Kafka deletes whole segments, once their newest event is past the retention, so an
        event outlives the retention by up to a segment's span: Kafka's default of 7 days would
        double how long a prod event stays readable.
        """
        return min(self.retention_hours, MAX_SEGMENT_HOURS)

    @property
    def readable_hours(self) -> int:
        """The longest a consumer may still read an event: the retention, one segment's span,
        and an hour for the broker's retention check (every 5 minutes by default)."""
        return self.retention_hours + self.segment_hours + 1

    @model_validator(mode="after")
    def _isr_within_replication(self) -> TopicSettings:
        if self.min_insync_replicas > self.replication_factor:
            raise ValueError(
                f"minInsyncReplicas={self.min_insync_replicas} exceeds "
                f"replicationFactor={self.replication_factor}: every acks=all write would fail"
            )
        return self


class KafkaTopicsArgs(ComponentArgs):
    settings: TopicSettings
    image: PinnedImage
    bootstrap: str
    service_account_name: str
    topics: tuple[str, ...] = TASK_TOPICS


def topics_script(args: KafkaTopicsArgs) -> str:
    """The shell script the Job runs: wait for the brokers, then create-or-converge each topic."""
    s = args.settings
    server = shlex.quote(args.bootstrap)
    retention_ms = s.retention_hours * 3_600_000
    segment_ms = s.segment_hours * 3_600_000
    configs = (
        f"min.insync.replicas={s.min_insync_replicas},retention.ms={retention_ms},"
        f"segment.ms={segment_ms}"
    )
    lines = [
        "set -eu",
        f"until {_BIN}/kafka-topics.sh --bootstrap-server {server} --list >/dev/null; do",
        "  echo 'waiting for kafka'; sleep 5",
        "done",
    ]
    for topic in args.topics:
        name = shlex.quote(topic)
        lines += [
            f"{_BIN}/kafka-topics.sh --bootstrap-server {server} --create --if-not-exists"
            f" --topic {name} --partitions {s.partitions}"
            f" --replication-factor {s.replication_factor}"
            f" --config min.insync.replicas={s.min_insync_replicas}"
            f" --config retention.ms={retention_ms}"
            f" --config segment.ms={segment_ms}",
            f"{_BIN}/kafka-configs.sh --bootstrap-server {server} --alter --entity-type topics"
            f" --entity-name {name} --add-config {configs}",
        ]
    return "\n".join(lines) + "\n"


class KafkaTopics(pulumi.ComponentResource):
    """The Job that creates the topics; ``topics`` lists what it guarantees."""

    topics: tuple[str, ...]
    selector: dict[str, str]

    def __init__(
        self, name: str, args: KafkaTopicsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:KafkaTopics", name, None, opts)
        script = topics_script(args)
        digest = hashlib.sha256(script.encode()).hexdigest()[:8]
        labels = standard_labels(
            "kafka-topics", args.instance, "kafka-topics", image_version(args.image)
        )
        job = container(
            "topics",
            image=args.image,
            size=args.settings.size,
            uid=KAFKA_UID,
            command=["sh", "-c", script],
            env=[
                core.EnvVarArgs(name="KAFKA_HEAP_OPTS", value="-Xms64m -Xmx128m"),
                core.EnvVarArgs(name="LOG_DIR", value="/tmp/logs"),  # noqa: S108 - an emptyDir
            ],
            volume_mounts=[
                core.VolumeMountArgs(name="tmp", mount_path="/tmp"),  # noqa: S108 - an emptyDir
            ],
        )
        batch.Job(
            f"{name}-job",
            metadata=object_meta(
                child_name(args.instance, f"kafka-topics-{digest}"),
                namespace=args.namespace,
                labels=labels,
            ),
            spec=batch.JobSpecArgs(
                backoff_limit=6,
                # Brokers that are not up after 15 minutes are a failed deploy, not a slow one.
                active_deadline_seconds=900,
                template=pod_template(
                    labels=labels,
                    spec=pod_spec(
                        containers=[job],
                        service_account_name=args.service_account_name,
                        volumes=[scratch_volume("tmp", size_limit="128Mi")],
                        uid=KAFKA_UID,
                        restart_policy="OnFailure",
                    ),
                ),
            ),
            opts=child_options(self, opts),
        )
        self.topics = args.topics
        self.selector = selector_labels("kafka-topics", args.instance, "kafka-topics")
        self.register_outputs({"topics": list(self.topics)})
