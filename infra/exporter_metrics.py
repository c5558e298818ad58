"""The exporter metrics the alerts and dashboards read, each checked against the exporter version
the stack runs.

The service's own metrics are checked by scraping it (``tests/app/test_monitoring_metrics.py``);
the exporters do not run on a development machine, so their names are listed here from each
exporter's documentation at the version pinned in ``infra/``. A test fails when a pinned
version changes without this list being re-checked, and when an alert or a dashboard panel reads
a metric that is neither the service's nor listed here.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.addons.kube_prometheus_stack import CHART as KUBE_PROMETHEUS_STACK
from infra.kafka import KafkaSettings
from infra.labels import image_version
from infra.postgres import PostgresSettings
from infra.redis import RedisSettings


@dataclass(frozen=True)
class Exporter:
    """An exporter, the version its metric names were checked against, and those names."""

    name: str
    checked_version: str
    pinned_version: str
    metrics: tuple[str, ...]


def _default_image_version(settings: type[PostgresSettings | RedisSettings | KafkaSettings]) -> str:
    return image_version(str(settings.model_fields["exporter_image"].default))


EXPORTERS: tuple[Exporter, ...] = (
    Exporter(
        name="postgres_exporter",
        checked_version="v0.17.1",
        pinned_version=_default_image_version(PostgresSettings),
        metrics=(
            # 1 when the exporter's last query of the server succeeded.
            "pg_up",
            # The stat_database collector (on by default), per database.
            "pg_stat_database_numbackends",
            "pg_stat_database_xact_commit",
            "pg_stat_database_xact_rollback",
        ),
    ),
    Exporter(
        name="redis_exporter",
        checked_version="v1.67.0",
        pinned_version=_default_image_version(RedisSettings),
        # From INFO: connected_clients and used_memory.
        metrics=("redis_up", "redis_connected_clients", "redis_memory_used_bytes"),
    ),
    Exporter(
        name="kafka_exporter",
        checked_version="v1.9.0",
        pinned_version=_default_image_version(KafkaSettings),
        # Per topic and partition; a partition with no leader gets no leader series at all.
        metrics=(
            "kafka_topic_partition_under_replicated_partition",
            "kafka_topic_partition_replicas",
            "kafka_topic_partition_leader",
            "kafka_consumergroup_lag",
            "kafka_brokers",
            "kafka_topic_partitions",
        ),
    ),
    Exporter(
        # kube-state-metrics, at the version the chart bundles.
        name="kube-prometheus-stack",
        checked_version="79.7.1",
        pinned_version=KUBE_PROMETHEUS_STACK.version,
        metrics=(
            "kube_pod_container_status_restarts_total",
            # Per CronJob; the success time only once a Job of it has succeeded.
            "kube_cronjob_created",
            "kube_cronjob_status_last_successful_time",
        ),
    ),
)


def exporter_metrics() -> dict[str, str]:
    """Every listed metric name, and the exporter that serves it."""
    return {metric: exporter.name for exporter in EXPORTERS for metric in exporter.metrics}
