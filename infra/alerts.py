"""The platform's alerts, as typed Python: one source for the PrometheusRule and the rule file.

Each :class:`Alert` is built from :func:`series` selectors, which always match the stack's
namespace: one Prometheus watches every stack of a cluster, and an alert must not fire for
another stack's outbox. ``rule_groups`` returns the Prometheus rule-file document
(``{"groups": [...]}``); :class:`AlertRules` sends it as a PrometheusRule's spec, and
``tests/infra/test_alerts.py`` writes the same document to a file for ``promtool``.

Metrics come from the service (``app/metrics.py``) and from the exporters the stack runs, whose
metric names are listed, with the exporter versions they were checked against, in
``infra/exporter_metrics.py``. With the backup CronJob on (``infra/backup.py``), one more alert
reads kube-state-metrics' view of it: no successful dump for :data:`BACKUP_MAX_AGE_HOURS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field

from infra.component import ComponentArgs, SettingsModel, child_options
from infra.labels import unversioned_labels
from infra.naming import child_name
from infra.workload import object_meta

Severity = Literal["warning", "critical"]
GROUP = "todo-platform"
"""The rule group's name; it names the stack's namespace in its rules, not in its name."""
BACKUP_MAX_AGE_HOURS = 26
"""A daily dump plus two hours' grace: a run that is late, slow or retried does not page."""


class AlertThresholds(SettingsModel):
    """Where each alert fires; the defaults fit the prod profile's sizes."""

    backlog_events: int = Field(
        default=1000, ge=1, description="Outbox rows waiting for more than 10 minutes."
    )
    backlog_age_seconds: int = Field(
        default=300, ge=30, le=86400, description="Age of the oldest unpublished event."
    )
    error_ratio: float = Field(
        default=0.05, gt=0, lt=1, description="Share of API answers that are 5xx, over 5 min."
    )
    p95_seconds: float = Field(
        default=0.5, gt=0, le=60, description="API answer time at the 95th percentile, 5 min."
    )
    consumer_lag: int = Field(
        default=1000, ge=1, description="Events a consumer group is behind on one topic."
    )
    restarts: int = Field(
        default=3, ge=1, le=100, description="Container restarts within 30 minutes."
    )


_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\{namespace=")
"""A metric name as :func:`series` writes it: always followed by the namespace matcher."""


def metric_names(expr: str) -> frozenset[str]:
    """The metric names a PromQL expression reads (each written by :func:`series`)."""
    return frozenset(_SELECTOR.findall(expr))


def series(metric: str, namespace: str, **matchers: str) -> str:
    """A selector for ``metric`` in the stack's namespace (``matchers`` are exact, or a
    regular expression when the value starts with ``~``)."""
    terms = [f'namespace="{namespace}"']
    for label, value in matchers.items():
        terms.append(f'{label}=~"{value[1:]}"' if value.startswith("~") else f'{label}="{value}"')
    return f"{metric}{{{','.join(terms)}}}"


@dataclass(frozen=True)
class Alert:
    """One alerting rule: what it catches is its ``summary``; ``expr`` and ``for_`` say when."""

    name: str
    expr: str
    for_: str
    severity: Severity
    summary: str
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def metrics(self) -> frozenset[str]:
        return metric_names(self.expr)

    def rule(self) -> dict[str, Any]:
        rule: dict[str, Any] = {
            "alert": self.name,
            "expr": self.expr,
            "labels": {"severity": self.severity, **self.labels},
            "annotations": {"summary": self.summary},
        }
        if self.for_ != "0m":
            rule["for"] = self.for_
        return rule


def alerts(namespace: str, limits: AlertThresholds) -> list[Alert]:
    """Every alert of one stack."""

    def s(metric: str, **matchers: str) -> str:
        return series(metric, namespace, **matchers)

    requests = "todo_http_requests_total"
    return [
        Alert(
            "TodoOutboxBacklog",
            f"max by (namespace) ({s('todo_outbox_backlog')}) > {limits.backlog_events}",
            "10m",
            "warning",
            f"More than {limits.backlog_events} events have waited in the outbox for 10 "
            "minutes: the relay publishes slower than the API writes, or not at all.",
        ),
        Alert(
            "TodoOutboxStale",
            f"max by (namespace) ({s('todo_outbox_oldest_age_seconds')}) "
            f"> {limits.backlog_age_seconds}",
            "2m",
            "critical",
            f"The oldest unpublished event is over {limits.backlog_age_seconds} s old: the "
            "relay is stalled or Kafka refuses it, however few events wait.",
        ),
        Alert(
            "TodoPublishFailures",
            f"sum by (namespace, topic) (rate({s('todo_events_publish_failed_total')}[5m])) > 0",
            "10m",
            "warning",
            "Kafka has refused events for 10 minutes; they stay in the outbox and are retried.",
        ),
        Alert(
            "TodoConsumerRetries",
            "sum by (namespace) "
            f"(rate({s('todo_events_consumed_total', outcome='retry')}[5m])) > 0",
            "15m",
            "warning",
            "The event handler has failed and asked for redelivery for 15 minutes: stats lag.",
        ),
        Alert(
            "TodoConsumerDrops",
            "sum by (namespace) "
            f"(increase({s('todo_events_consumed_total', outcome='drop')}[15m])) > 0",
            "0m",
            "warning",
            "The event handler dropped events it could not read; their stats are lost.",
        ),
        Alert(
            "TodoApiErrors",
            f"sum by (namespace) (rate({s(requests, status='~5..')}[5m])) "
            f"/ sum by (namespace) (rate({s(requests)}[5m])) > {limits.error_ratio}",
            "10m",
            "critical",
            f"More than {limits.error_ratio:.0%} of API answers are 5xx errors.",
        ),
        Alert(
            "TodoApiSlow",
            "histogram_quantile(0.95, sum by (namespace, le) "
            f"(rate({s('todo_http_request_duration_seconds_bucket')}[5m]))) "
            f"> {limits.p95_seconds}",
            "10m",
            "warning",
            f"The API's 95th percentile answer time is above {limits.p95_seconds} s.",
        ),
        Alert(
            "TodoKafkaUnderReplicated",
            "sum by (namespace, topic) "
            f"({s('kafka_topic_partition_under_replicated_partition')}) > 0",
            "5m",
            "warning",
            "Partitions have fewer in-sync copies than replicas: a broker is down or behind.",
        ),
        Alert(
            # The exporter writes no leader series for a partition without a leader.
            "TodoKafkaOfflinePartitions",
            f"count by (namespace, topic) ({s('kafka_topic_partition_replicas')} "
            f"unless on (topic, partition) {s('kafka_topic_partition_leader')}) > 0",
            "1m",
            "critical",
            "Partitions have no leader: events of their tasks can be neither written nor read.",
        ),
        Alert(
            "TodoKafkaConsumerLag",
            f"sum by (namespace, consumergroup, topic) ({s('kafka_consumergroup_lag')}) "
            f"> {limits.consumer_lag}",
            "10m",
            "warning",
            f"A consumer group is more than {limits.consumer_lag} events behind on a topic.",
        ),
        Alert(
            # absent(): with PostgreSQL's pod gone its exporter sidecar is gone too.
            "TodoPostgresDown",
            f"max by (namespace) ({s('pg_up')}) < 1 or absent({s('pg_up')})",
            "2m",
            "critical",
            "PostgreSQL does not answer its exporter: writes fail and readiness drops.",
        ),
        Alert(
            "TodoRedisDown",
            f"max by (namespace) ({s('redis_up')}) < 1 or absent({s('redis_up')})",
            "5m",
            "warning",
            "Redis does not answer its exporter: the API serves from PostgreSQL, uncached.",
        ),
        Alert(
            "TodoPodRestarting",
            "sum by (namespace, pod, container) "
            f"(increase({s('kube_pod_container_status_restarts_total')}[30m])) "
            f">= {limits.restarts}",
            "0m",
            "warning",
            f"A container restarted {limits.restarts} times or more within 30 minutes.",
        ),
    ]


def backup_alert(namespace: str, cron_job: str) -> Alert:
    """No successful dump for :data:`BACKUP_MAX_AGE_HOURS`: the last success is too old, or the
    CronJob is that old and has never succeeded (kube-state-metrics writes no success time
    before the first), or the CronJob is gone."""

    def s(metric: str) -> str:
        return series(metric, namespace, cronjob=cron_job)

    window = BACKUP_MAX_AGE_HOURS * 3600
    last, created = s("kube_cronjob_status_last_successful_time"), s("kube_cronjob_created")
    return Alert(
        "TodoBackupMissing",
        f"time() - max by (namespace, cronjob) ({last}) > {window}"
        f" or (time() - max by (namespace, cronjob) ({created}) > {window}"
        f" unless on (namespace, cronjob) {last})"
        f" or absent({created})",
        "10m",
        "warning",
        f"No successful database dump for {BACKUP_MAX_AGE_HOURS} h: the backup CronJob "
        "fails, does not run, or is gone (kubectl get cronjob,jobs).",
    )


def rule_groups(
    namespace: str, limits: AlertThresholds, backup_cron_job: str | None = None
) -> dict[str, Any]:
    """The rule-file document: a PrometheusRule's spec, and what ``promtool`` reads; with the
    backup CronJob's name, its alert too."""
    rules = alerts(namespace, limits)
    if backup_cron_job is not None:
        rules.append(backup_alert(namespace, backup_cron_job))
    return {"groups": [{"name": GROUP, "rules": [a.rule() for a in rules]}]}


class AlertRulesArgs(ComponentArgs):
    thresholds: AlertThresholds = Field(
        default_factory=AlertThresholds, description="Where each alert fires."
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Extra labels, for a Prometheus that selects by label."
    )
    backup_cron_job: str | None = Field(
        default=None, description="The backup CronJob, when there is one: alert on its dumps."
    )


class AlertRules(pulumi.ComponentResource):
    """The stack's PrometheusRule, which the Prometheus Operator loads into Prometheus."""

    def __init__(
        self, name: str, args: AlertRulesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:AlertRules", name, None, opts)
        object_name = child_name(args.instance, "alerts")
        k8s.apiextensions.CustomResource(
            f"{name}-rule",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=object_meta(
                object_name,
                namespace=args.namespace,
                labels={
                    **args.labels,
                    **unversioned_labels("monitoring", args.instance, "alerts"),
                },
            ),
            spec=rule_groups(args.namespace, args.thresholds, args.backup_cron_job),
            opts=child_options(self, opts),
        )
        self.register_outputs({"name": object_name})
