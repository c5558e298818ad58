"""The workloads and traffic objects as the real stacks wire them (rendered under mocks).

These catch drift between modules: a policy whose selector matches no pod, an Ingress naming a
Service that does not exist, a Dapr secret reference to a missing key, a start order lost.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest

from stacks.render import Rendered, render_stack

PROJECT_DIR = Path(__file__).resolve().parents[2]
POD_OWNERS = ("Deployment", "StatefulSet", "Job")


@cache
def _rendered(stack: str) -> Rendered:
    return render_stack(stack, PROJECT_DIR)


def _objects(stack: str, kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in _rendered(stack).manifests() if m["kind"] == kind}


def _pod_labels(stack: str) -> list[dict[str, str]]:
    return [
        owner["spec"]["template"]["metadata"]["labels"]
        for kind in POD_OWNERS
        for owner in _objects(stack, kind).values()
    ]


def _selects_a_pod(stack: str, selector: dict[str, str]) -> bool:
    return any(selector.items() <= labels.items() for labels in _pod_labels(stack))


def _depends_on(stack: str, name: str) -> frozenset[str]:
    (registration,) = [r for r in _rendered(stack).registrations if r.name == name]
    return registration.dependencies


def test_prod_hpas_own_the_web_tier_counts():
    deployments = _objects("prod", "Deployment")
    hpas = _objects("prod", "HorizontalPodAutoscaler")
    bounds = {
        h["spec"]["scaleTargetRef"]["name"]: (h["spec"]["minReplicas"], h["spec"]["maxReplicas"])
        for h in hpas.values()
    }
    assert bounds == {"todo-frontend": (3, 15), "todo-backend": (2, 10)}
    for target in bounds:
        assert "replicas" not in deployments[target]["spec"], target


def test_prod_budgets_keep_two_frontends_and_one_backend():
    budgets = _objects("prod", "PodDisruptionBudget")
    assert budgets["todo-frontend"]["spec"]["minAvailable"] == 2
    assert budgets["todo-backend"]["spec"]["minAvailable"] == 1


def test_dev_has_fixed_counts_no_hpa_no_policies_and_no_tls():
    assert _objects("dev", "HorizontalPodAutoscaler") == {}
    assert _objects("dev", "NetworkPolicy") == {}
    assert _objects("dev", "Deployment")["todo-backend"]["spec"]["replicas"] == 1
    ingress = _objects("dev", "Ingress")["todo-ingress"]
    assert "tls" not in ingress["spec"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_network_policy_selects_real_pods(stack):
    policies = _objects(stack, "NetworkPolicy")
    assert "todo-default-deny-ingress" in policies
    for name, policy in policies.items():
        target = policy["spec"]["podSelector"].get("matchLabels", {})
        if target:
            assert _selects_a_pod(stack, target), f"{name} protects no pod: {target}"
        for rule in policy["spec"].get("ingress", []):
            for peer in rule["from"]:
                if "podSelector" in peer:
                    source = peer["podSelector"]["matchLabels"]
                    assert _selects_a_pod(stack, source), f"{name} admits no pod: {source}"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_ingress_routes_to_services_with_an_http_port(stack):
    services = _objects(stack, "Service")
    (ingress,) = _objects(stack, "Ingress").values()
    for path in ingress["spec"]["rules"][0]["http"]["paths"]:
        backend = path["backend"]["service"]
        ports = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
        assert backend["port"]["name"] in ports, path["path"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_dapr_secret_references_name_existing_keys(stack):
    secrets = _objects(stack, "Secret")
    for component in _objects(stack, "Component").values():
        for item in component["spec"]["metadata"]:
            if "secretKeyRef" in item:
                ref = item["secretKeyRef"]
                secret = secrets[ref["name"]]
                keys = {*secret.get("data", {}), *secret.get("stringData", {})}
                assert ref["key"] in keys, item["name"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_sidecars_name_the_rendered_dapr_configuration(stack):
    configurations = _objects(stack, "Configuration")
    for name in ("todo-backend", "todo-frontend"):
        pod = _objects(stack, "Deployment")[name]["spec"]["template"]
        assert pod["metadata"]["annotations"]["dapr.io/config"] in configurations, name


def test_start_order_database_then_api_then_relay():
    backend = _depends_on("prod", "todo-backend-deployment")
    assert {"todo-postgres-statefulset", "todo-dapr-configuration"} <= backend
    assert "todo-backend-deployment" in _depends_on("prod", "todo-relay-deployment")
    init = _objects("prod", "Deployment")["todo-backend"]["spec"]["template"]["spec"]
    assert [c["name"] for c in init["initContainers"]] == ["wait-for-postgres", "migrate"]
