"""The event relay Deployment: command, probes, settings and its secure defaults."""

from __future__ import annotations

from infra.relay import Relay
from tests.infra.mock_run import Registered, of_type, one, run
from tests.infra.workload_fixtures import relay_args


def _render(**overrides: object) -> list[Registered]:
    return run(lambda: Relay("relay", relay_args(**overrides)))


def _container(resources: list[Registered]) -> dict:
    spec = one(resources, "kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    return container


def test_runs_the_relay_command_with_the_service_settings():
    relay = _container(_render())
    assert relay["command"] == ["todo-api", "relay"]
    assert relay["envFrom"] == [{"configMapRef": {"name": "todo-settings"}}]


def test_relay_gets_the_database_url_and_never_the_jwt_key():
    resources = _render()
    relay = _container(resources)
    spec = one(resources, "kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]
    (credentials,) = [v["secret"] for v in spec["volumes"] if "secret" in v]
    assert credentials["items"] == [{"key": "TODO_DATABASE_URL", "path": "TODO_DATABASE_URL"}]
    files = {v["name"]: v["value"] for v in relay["env"] if v["name"].endswith("_FILE")}
    assert files == {"TODO_DATABASE_URL_FILE": "/var/run/secrets/todo/TODO_DATABASE_URL"}
    assert not [v for v in relay["env"] if "valueFrom" in v]


def test_serves_metrics_on_its_port_for_prometheus():
    resources = _render()
    relay = _container(resources)
    assert {"name": "TODO_METRICS_PORT", "value": "9102"} in relay["env"]
    assert relay["ports"] == [{"name": "metrics", "containerPort": 9102, "protocol": "TCP"}]
    pod = one(resources, "kubernetes:apps/v1:Deployment").inputs["spec"]["template"]
    assert pod["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9102",
        "prometheus.io/path": "/metrics",
    }


def test_probes_ask_the_metrics_server_for_an_in_memory_counter_only():
    relay = _container(_render())
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert "exec" not in relay[probe], probe
        assert relay[probe]["httpGet"] == {
            "port": "metrics",
            "path": "/metrics?name[]=todo_events_published_total",
        }, probe


def test_serves_no_traffic_so_has_no_service_and_no_sidecar():
    resources = _render()
    assert of_type(resources, "kubernetes:core/v1:Service") == []
    pod = one(resources, "kubernetes:apps/v1:Deployment").inputs["spec"]["template"]
    assert not any(key.startswith("dapr.io/") for key in pod["metadata"]["annotations"])


def test_container_is_hardened():
    context = _container(_render())["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}


def test_two_relays_get_a_budget_and_distinct_selector_from_the_api():
    resources = _render(replicas=2)
    pdb = one(resources, "kubernetes:policy/v1:PodDisruptionBudget").inputs["spec"]
    assert pdb["minAvailable"] == 1
    assert pdb["selector"]["matchLabels"]["app.kubernetes.io/component"] == "relay"
