"""The alerts under promtool: every rule parses, and each fires on a synthetic failure and stays
quiet on healthy series (and on another stack's failure in the same Prometheus).

promtool comes from the Debian package ``prometheus`` (``scripts/bootstrap`` installs it); the
rule file it reads is written from the same ``infra.alerts.rule_groups`` the PrometheusRule sends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.alerts import (
    AlertRules,
    AlertRulesArgs,
    AlertThresholds,
    alerts,
    backup_alert,
    rule_groups,
    series,
)
from infra.exporter_metrics import EXPORTERS
from tests.infra.manifests import REPO
from tests.infra.mock_run import one, run
from tests.infra.promtool import run_promtool, write_yaml

NS = "todo-app"
OTHER = "todo-app-staging"
LIMITS = AlertThresholds()
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
BACKUP = "todo-backup"
ALL = [*alerts(NS, LIMITS), backup_alert(NS, BACKUP)]
"""Every alert of a stack with the backup CronJob on (prod)."""
LAST_SUCCESS = "kube_cronjob_status_last_successful_time"


def s(metric: str, namespace: str = NS, **labels: str) -> str:
    return series(metric, namespace, **labels)


@dataclass(frozen=True)
class Case:
    """Series that make the alert fire by ``at`` with ``labels``, and healthy ones that don't."""

    firing: dict[str, str]
    at: str
    labels: dict[str, str]
    healthy: dict[str, str] = field(default_factory=dict)


CASES: dict[str, Case] = {
    "TodoOutboxBacklog": Case(
        firing={s("todo_outbox_backlog", pod="api-1"): "1500x20"},
        at="15m",
        labels={"namespace": NS},
        healthy={
            s("todo_outbox_backlog", pod="api-1"): "10x20",
            s("todo_outbox_backlog", OTHER, pod="api-1"): "5000x20",
        },
    ),
    "TodoOutboxStale": Case(
        # Few rows, but the oldest ages a minute per minute: a stalled relay.
        firing={s("todo_outbox_oldest_age_seconds", pod="relay-1"): "0+60x20"},
        at="10m",
        labels={"namespace": NS},
        healthy={s("todo_outbox_oldest_age_seconds", pod="relay-1"): "2x20"},
    ),
    "TodoPublishFailures": Case(
        firing={s("todo_events_publish_failed_total", topic="task.created"): "0+5x30"},
        at="20m",
        labels={"namespace": NS, "topic": "task.created"},
        healthy={
            s("todo_events_publish_failed_total", topic="task.created"): "3x30",
            s("todo_events_published_total", topic="task.created"): "0+50x30",
        },
    ),
    "TodoConsumerRetries": Case(
        firing={s("todo_events_consumed_total", outcome="retry"): "0+2x40"},
        at="30m",
        labels={"namespace": NS},
        healthy={
            s("todo_events_consumed_total", outcome="retry"): "4x40",
            s("todo_events_consumed_total", outcome="applied"): "0+20x40",
        },
    ),
    "TodoConsumerDrops": Case(
        firing={s("todo_events_consumed_total", outcome="drop"): "0x10 1x10"},
        at="15m",
        labels={"namespace": NS},
        healthy={
            s("todo_events_consumed_total", outcome="drop"): "0x20",
            s("todo_events_consumed_total", outcome="duplicate"): "0+3x20",
        },
    ),
    "TodoApiErrors": Case(
        firing={
            s("todo_http_requests_total", route="/api/v1/tasks", status="500"): "0+10x30",
            s("todo_http_requests_total", route="/api/v1/tasks", status="200"): "0+90x30",
        },
        at="20m",
        labels={"namespace": NS},
        healthy={
            s("todo_http_requests_total", route="/api/v1/tasks", status="500"): "0+1x30",
            s("todo_http_requests_total", route="/api/v1/tasks", status="200"): "0+99x30",
            s("todo_http_requests_total", OTHER, route="/api/v1/tasks", status="503"): "0+50x30",
        },
    ),
    "TodoApiSlow": Case(
        # Nine answers in ten take between 0.5 s and 1 s.
        firing={
            s("todo_http_request_duration_seconds_bucket", le="0.5"): "0+10x30",
            s("todo_http_request_duration_seconds_bucket", le="1.0"): "0+100x30",
            s("todo_http_request_duration_seconds_bucket", le="+Inf"): "0+100x30",
        },
        at="20m",
        labels={"namespace": NS},
        healthy={
            s("todo_http_request_duration_seconds_bucket", le="0.5"): "0+99x30",
            s("todo_http_request_duration_seconds_bucket", le="1.0"): "0+100x30",
            s("todo_http_request_duration_seconds_bucket", le="+Inf"): "0+100x30",
        },
    ),
    "TodoKafkaUnderReplicated": Case(
        firing={
            s(
                "kafka_topic_partition_under_replicated_partition",
                topic="task.created",
                partition="0",
            ): "1x20",
        },
        at="10m",
        labels={"namespace": NS, "topic": "task.created"},
        healthy={
            s(
                "kafka_topic_partition_under_replicated_partition",
                topic="task.created",
                partition="0",
            ): "0x20",
        },
    ),
    "TodoKafkaOfflinePartitions": Case(
        # Partition 1 lost its leader: the exporter stops writing its leader series.
        firing={
            s("kafka_topic_partition_replicas", topic="task.created", partition="0"): "3x10",
            s("kafka_topic_partition_replicas", topic="task.created", partition="1"): "3x10",
            s("kafka_topic_partition_leader", topic="task.created", partition="0"): "1x10",
        },
        at="5m",
        labels={"namespace": NS, "topic": "task.created"},
        healthy={
            s("kafka_topic_partition_replicas", topic="task.created", partition="0"): "3x10",
            s("kafka_topic_partition_replicas", topic="task.created", partition="1"): "3x10",
            s("kafka_topic_partition_leader", topic="task.created", partition="0"): "1x10",
            s("kafka_topic_partition_leader", topic="task.created", partition="1"): "2x10",
        },
    ),
    "TodoKafkaConsumerLag": Case(
        firing={
            s(
                "kafka_consumergroup_lag",
                consumergroup="todo-api",
                topic="task.updated",
                partition=str(p),
            ): "800x20"
            for p in (0, 1)
        },
        at="15m",
        labels={"namespace": NS, "consumergroup": "todo-api", "topic": "task.updated"},
        healthy={
            s(
                "kafka_consumergroup_lag",
                consumergroup="todo-api",
                topic="task.updated",
                partition=str(p),
            ): "100x20"
            for p in (0, 1)
        },
    ),
    "TodoPostgresDown": Case(
        firing={s("pg_up", pod="todo-postgres-0"): "0x10"},
        at="5m",
        labels={"namespace": NS},
        healthy={s("pg_up", pod="todo-postgres-0"): "1x10", s("pg_up", OTHER): "0x10"},
    ),
    "TodoRedisDown": Case(
        firing={s("redis_up", pod="todo-redis-0"): "0x10"},
        at="8m",
        labels={"namespace": NS},
        healthy={s("redis_up", pod="todo-redis-0"): "1x10"},
    ),
    "TodoPodRestarting": Case(
        firing={
            s(
                "kube_pod_container_status_restarts_total", pod="todo-relay-1", container="relay"
            ): "0 1 2 3 4 4 4",
        },
        at="6m",
        labels={"namespace": NS, "pod": "todo-relay-1", "container": "relay"},
        healthy={
            s(
                "kube_pod_container_status_restarts_total", pod="todo-relay-1", container="relay"
            ): "1x40",
        },
    ),
    "TodoBackupMissing": Case(
        # kube-state-metrics' values are Unix times; the series start at time() = 0. The last
        # success stays at 0 while the evaluation reaches 27 h.
        firing={
            s(LAST_SUCCESS, cronjob=BACKUP): "0x1700",
            s("kube_cronjob_created", cronjob=BACKUP): "0x1700",
        },
        at="27h",
        labels={"namespace": NS, "cronjob": BACKUP},
        healthy={
            # A dump succeeded after 24 h; another stack's backup is failing.
            s(LAST_SUCCESS, cronjob=BACKUP): "0x1440 86400x300",
            s("kube_cronjob_created", cronjob=BACKUP): "0x1740",
            s(LAST_SUCCESS, OTHER, cronjob=BACKUP): "0x1740",
        },
    ),
}
ABSENT_CASES: dict[str, str] = {"TodoPostgresDown": "6m", "TodoRedisDown": "9m"}
"""Alerts that also fire when their series is missing (the pod and its exporter sidecar gone)."""


def _input(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"series": name, "values": v} for name, v in values.items()]


def _backup_tests() -> list[dict[str, Any]]:
    """TodoBackupMissing when kube-state-metrics has no success time to give: a CronJob that
    never succeeded (quiet while younger than 26 h), and one that is gone."""
    alert = backup_alert(NS, BACKUP)
    firing = [
        {
            "exp_labels": {"severity": alert.severity, "namespace": NS, "cronjob": BACKUP},
            "exp_annotations": {"summary": alert.summary},
        }
    ]
    created = s("kube_cronjob_created", cronjob=BACKUP)
    return [
        {
            "name": "TodoBackupMissing fires for a CronJob that never succeeded in 26 h",
            "interval": "1m",
            "input_series": _input({created: "0x1700"}),
            "alert_rule_test": [
                {"eval_time": "25h", "alertname": alert.name, "exp_alerts": []},
                {"eval_time": "27h", "alertname": alert.name, "exp_alerts": firing},
            ],
        },
        {
            "name": "TodoBackupMissing fires when the CronJob is gone",
            "interval": "1m",
            "input_series": _input({s("kube_cronjob_created", OTHER, cronjob=BACKUP): "0x30"}),
            "alert_rule_test": [
                {"eval_time": "5m", "alertname": alert.name, "exp_alerts": []},
                {"eval_time": "15m", "alertname": alert.name, "exp_alerts": firing},
            ],
        },
    ]


def _tests() -> list[dict[str, Any]]:
    by_name = {alert.name: alert for alert in ALL}
    tests: list[dict[str, Any]] = []
    for name, case in CASES.items():
        alert = by_name[name]
        expected = {
            "exp_labels": {"severity": alert.severity, **alert.labels, **case.labels},
            "exp_annotations": {"summary": alert.summary},
        }
        tests.append(
            {
                "name": f"{name} fires",
                "interval": "1m",
                "input_series": _input(case.firing),
                "alert_rule_test": [
                    {"eval_time": case.at, "alertname": name, "exp_alerts": [expected]}
                ],
            }
        )
        tests.append(
            {
                "name": f"{name} stays quiet",
                "interval": "1m",
                "input_series": _input(case.healthy),
                "alert_rule_test": [{"eval_time": case.at, "alertname": name, "exp_alerts": []}],
            }
        )
        if name in ABSENT_CASES:
            tests.append(
                {
                    "name": f"{name} fires when its series is gone",
                    "interval": "1m",
                    # Another stack's series does not count as ours.
                    "input_series": _input({s(next(iter(alert.metrics)), OTHER): "1x10"}),
                    "alert_rule_test": [
                        {
                            "eval_time": ABSENT_CASES[name],
                            "alertname": name,
                            "exp_alerts": [
                                {
                                    "exp_labels": {"severity": alert.severity, "namespace": NS},
                                    "exp_annotations": {"summary": alert.summary},
                                }
                            ],
                        }
                    ],
                }
            )
    return [*tests, *_backup_tests()]


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    assert set(CASES) == {alert.name for alert in ALL}


def test_the_rule_file_passes_promtool_check(promtool: str, tmp_path: Path) -> None:
    write_yaml(tmp_path / "rules.yml", rule_groups(NS, LIMITS, BACKUP))
    code, output = run_promtool(promtool, "check", "rules", "rules.yml", cwd=tmp_path)
    assert code == 0, output
    assert f"SUCCESS: {len(CASES)} rules found" in output


def test_every_alert_fires_on_its_failure_and_only_then(promtool: str, tmp_path: Path) -> None:
    write_yaml(tmp_path / "rules.yml", rule_groups(NS, LIMITS, BACKUP))
    write_yaml(
        tmp_path / "tests.yml",
        {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": _tests()},
    )
    code, output = run_promtool(promtool, "test", "rules", "tests.yml", cwd=tmp_path)
    assert code == 0, output
    assert "SUCCESS" in output


def test_promtool_fails_a_case_that_expects_the_wrong_thing(promtool: str, tmp_path: Path) -> None:
    """The harness can fail: a firing case expected to stay quiet is reported."""
    case = CASES["TodoOutboxBacklog"]
    write_yaml(tmp_path / "rules.yml", rule_groups(NS, LIMITS, BACKUP))
    wrong = {
        "interval": "1m",
        "input_series": _input(case.firing),
        "alert_rule_test": [
            {"eval_time": case.at, "alertname": "TodoOutboxBacklog", "exp_alerts": []}
        ],
    }
    write_yaml(
        tmp_path / "tests.yml",
        {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [wrong]},
    )
    code, output = run_promtool(promtool, "test", "rules", "tests.yml", cwd=tmp_path)
    assert code != 0
    assert "TodoOutboxBacklog" in output


def test_thresholds_come_from_the_settings() -> None:
    tight = AlertThresholds(backlog_events=5, error_ratio=0.2, restarts=1)
    exprs = {alert.name: alert.expr for alert in alerts(NS, tight)}
    assert exprs["TodoOutboxBacklog"].endswith("> 5")
    assert exprs["TodoApiErrors"].endswith("> 0.2")
    assert exprs["TodoPodRestarting"].endswith(">= 1")


def test_every_selector_is_scoped_to_the_stacks_namespace() -> None:
    for alert in ALL:
        assert alert.metrics, alert.name
        selectors = alert.expr.count("{")
        assert selectors == alert.expr.count(f'{{namespace="{NS}"'), alert.name


def test_every_alert_is_documented() -> None:
    guide = (REPO / "docs" / "monitoring.md").read_text(encoding="utf-8")
    for alert in ALL:
        assert f"| `{alert.name}` | {alert.severity} |" in guide, alert.name


def test_every_pinned_exporter_was_checked_at_its_version() -> None:
    """Bumping an exporter image means re-reading its metric names: update `checked_version`."""
    for exporter in EXPORTERS:
        assert exporter.checked_version == exporter.pinned_version, exporter.name


def test_the_prometheus_rule_carries_the_rule_file_and_the_extra_labels() -> None:
    resources = run(
        lambda: AlertRules(
            "alerts",
            AlertRulesArgs(namespace=NS, instance="todo", labels={"release": "monitoring"}),
        )
    )
    rule = one(resources, PROMETHEUS_RULE).inputs
    assert rule["metadata"]["name"] == "todo-alerts"
    assert rule["metadata"]["namespace"] == NS
    assert rule["metadata"]["labels"]["release"] == "monitoring"
    assert rule["metadata"]["labels"]["app.kubernetes.io/instance"] == "todo"
    assert rule["spec"] == rule_groups(NS, LIMITS)


def test_the_backup_alert_is_there_only_with_the_backup_cron_job() -> None:
    def names(rules: dict[str, Any]) -> list[str]:
        return [rule["alert"] for rule in rules["groups"][0]["rules"]]

    assert "TodoBackupMissing" not in names(rule_groups(NS, LIMITS))
    assert names(rule_groups(NS, LIMITS, BACKUP))[-1] == "TodoBackupMissing"
    resources = run(
        lambda: AlertRules(
            "alerts", AlertRulesArgs(namespace=NS, instance="todo", backup_cron_job=BACKUP)
        )
    )
    assert one(resources, PROMETHEUS_RULE).inputs["spec"] == rule_groups(NS, LIMITS, BACKUP)


def test_the_backup_alert_watches_the_stacks_own_cron_job() -> None:
    expr = backup_alert(NS, BACKUP).expr
    assert expr.count(f'{{namespace="{NS}",cronjob="{BACKUP}"}}') == 4
    assert "> 93600" in expr
