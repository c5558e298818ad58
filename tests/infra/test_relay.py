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
    assert relay["envFrom"] == [
        {"configMapRef": {"name": "todo-settings"}},
        {"secretRef": {"name": "todo-credentials"}},
    ]


def test_probes_check_the_database_connection():
    relay = _container(_render())
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        command = relay[probe]["exec"]["command"]
        assert command[:2] == ["python", "-c"], probe
        assert "TODO_DATABASE_URL" in command[2], probe


def test_serves_no_traffic_so_has_no_service_and_no_sidecar():
    resources = _render()
    assert of_type(resources, "kubernetes:core/v1:Service") == []
    pod = one(resources, "kubernetes:apps/v1:Deployment").inputs["spec"]["template"]
    assert not pod["metadata"].get("annotations")


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
