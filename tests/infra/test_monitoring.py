"""monitoring.enabled: a PodMonitor per pod that serves metrics, on the port it serves them on,
and the PrometheusRule; off by default; settings validated naming the key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.alerts import rule_groups
from infra.monitoring import MonitoringSettings, PodMonitors, PodMonitorsArgs, ScrapeTarget
from stacks.config import StackConfigError
from stacks.render import Rendered
from tests.infra.manifests import Manifest, containers, named, of_kind, render
from tests.infra.mock_run import of_type, run
from tests.infra.test_config import load

POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
ON = {"enabled": True}


@pytest.fixture(scope="module")
def prod_monitored() -> Rendered:
    return render("prod", monitoring=ON)


def _selected(manifests: list[Manifest], monitor: Manifest) -> list[Manifest]:
    """The pod templates of the workloads a PodMonitor selects."""
    wanted = monitor["spec"]["selector"]["matchLabels"].items()
    return [
        m
        for m in manifests
        if m["kind"] in ("Deployment", "StatefulSet")
        and wanted <= m["spec"]["template"]["metadata"]["labels"].items()
    ]


def test_monitoring_is_off_in_the_shipped_stacks(stacks: dict[str, Rendered]) -> None:
    for stack, rendered in stacks.items():
        kinds = {m["kind"] for m in rendered.manifests()}
        assert not kinds & {"PodMonitor", "PrometheusRule"}, stack


def test_every_metrics_pod_has_a_monitor_on_a_port_it_serves(prod_monitored: Rendered) -> None:
    manifests = prod_monitored.manifests()
    monitors = of_kind(manifests, "PodMonitor")
    assert sorted(m["metadata"]["name"] for m in monitors) == [
        "todo-backend",
        "todo-kafka-exporter",
        "todo-postgres",
        "todo-redis",
        "todo-relay",
    ]
    for monitor in monitors:
        (workload,) = _selected(manifests, monitor)
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        ports = {
            port["name"]
            for _, container in containers(workload)
            for port in container.get("ports", [])
        }
        assert endpoint["port"] in ports, monitor["metadata"]["name"]
        assert (endpoint["path"], endpoint["interval"]) == ("/metrics", "30s")
        assert monitor["metadata"]["namespace"] == "todo-app"


def test_the_stack_sends_the_alerts_for_its_namespace(prod_monitored: Rendered) -> None:
    """Prod backs up, so its rules watch the backup CronJob too."""
    rule = named(prod_monitored.manifests(), "PrometheusRule", "todo-alerts")
    assert rule["spec"] == rule_groups("todo-app", MonitoringSettings().alerts, "todo-backup")


def test_thresholds_and_labels_reach_the_objects() -> None:
    rendered = render(
        "staging",
        monitoring={
            "enabled": True,
            "scrapeInterval": "1m",
            "labels": {"release": "ops"},
            "alerts": {"backlogEvents": 50},
        },
    )
    manifests = rendered.manifests()
    rule = named(manifests, "PrometheusRule", "todo-alerts")
    assert rule["metadata"]["labels"]["release"] == "ops"
    (backlog,) = [
        r for r in rule["spec"]["groups"][0]["rules"] if r["alert"] == "TodoOutboxBacklog"
    ]
    assert backlog["expr"].endswith("> 50")
    # Staging runs no backup CronJob: nothing to alert on.
    assert "TodoBackupMissing" not in [r["alert"] for r in rule["spec"]["groups"][0]["rules"]]
    for monitor in of_kind(manifests, "PodMonitor"):
        assert monitor["metadata"]["labels"]["release"] == "ops"
        assert monitor["spec"]["podMetricsEndpoints"][0]["interval"] == "1m"


def test_monitors_wait_for_the_operator_the_stack_installs() -> None:
    rendered = render("prod", monitoring=ON, addons={"kubePrometheusStack": {"enabled": True}})
    (release,) = [r for r in rendered.registrations if r.type == "kubernetes:helm.sh/v3:Release"]
    waiting = [r for r in rendered.registrations if r.type in (POD_MONITOR, PROMETHEUS_RULE)]
    assert len(waiting) == 6
    for resource in waiting:
        assert release.name in resource.dependencies, resource.name


def test_pod_monitors_are_named_for_the_instance() -> None:
    resources = run(
        lambda: PodMonitors(
            "mon",
            PodMonitorsArgs(
                namespace="ns",
                instance="blue",
                settings=MonitoringSettings(enabled=True),
                targets=(ScrapeTarget(component="relay", selector={"a": "b"}, port="metrics"),),
            ),
        )
    )
    (monitor,) = of_type(resources, POD_MONITOR)
    assert monitor.inputs["metadata"]["name"] == "blue-relay"
    assert monitor.inputs["spec"]["selector"] == {"matchLabels": {"a": "b"}}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"monitoring": {"enabled": True, "scrapeInterval": "soon"}},
            r"todo-evolution:monitoring\.scrapeInterval: .*'soon' is not a duration",
        ),
        (
            {"monitoring": {"alerts": {"errorRatio": 5}}},
            r"todo-evolution:monitoring\.alerts\.errorRatio: .*less than 1",
        ),
        (
            {"monitoring": {"alerts": {"unknown": 1}}},
            r"todo-evolution:monitoring\.alerts\.unknown: Extra inputs are not permitted",
        ),
        (
            {
                "addons": {"kubePrometheusStack": {"enabled": True}},
                "networkPolicies": {"enabled": True, "monitoringNamespace": "observability"},
            },
            r"networkPolicies\.monitoringNamespace='observability' must be 'monitoring'",
        ),
    ],
)
def test_bad_monitoring_settings_name_the_key(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(StackConfigError, match=message):
        load(**overrides)


def test_a_bad_interval_is_one_clear_error() -> None:
    with pytest.raises(ValidationError, match="'90' is not a duration"):
        MonitoringSettings(scrape_interval="90")
