"""The workloads and traffic objects as the real stacks wire them (rendered under mocks).

These catch drift between modules: a policy whose selector matches no pod, an Ingress naming a
Service that does not exist, a Dapr secret reference to a missing key, a start order lost.
Uses the session's ``stacks`` fixture (tests/infra/conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.network_policies import ACME_SOLVER_SELECTOR
from stacks.render import Rendered, plain
from stacks.summary import pod_template
from tests.infra.manifests import WORKLOAD_KINDS, render


def _objects(rendered: Rendered, kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in rendered.manifests() if m["kind"] == kind}


def _selects_a_pod(rendered: Rendered, selector: dict[str, str]) -> bool:
    return any(
        selector.items() <= pod_template(owner)["metadata"]["labels"].items()
        for kind in WORKLOAD_KINDS
        for owner in _objects(rendered, kind).values()
    )


def _depends_on(rendered: Rendered, name: str) -> frozenset[str]:
    (registration,) = [r for r in rendered.registrations if r.name == name]
    return registration.dependencies


def test_prod_hpas_own_the_web_tier_counts(stacks):
    deployments = _objects(stacks["prod"], "Deployment")
    bounds = {
        h["spec"]["scaleTargetRef"]["name"]: (h["spec"]["minReplicas"], h["spec"]["maxReplicas"])
        for h in _objects(stacks["prod"], "HorizontalPodAutoscaler").values()
    }
    assert bounds == {"todo-frontend": (3, 15), "todo-backend": (2, 10)}
    for target in bounds:
        assert "replicas" not in deployments[target]["spec"], target


def test_prod_budgets_keep_two_frontends_and_one_backend(stacks):
    budgets = _objects(stacks["prod"], "PodDisruptionBudget")
    assert budgets["todo-frontend"]["spec"]["minAvailable"] == 2
    assert budgets["todo-backend"]["spec"]["minAvailable"] == 1


def test_dev_has_fixed_counts_no_hpa_no_policies_and_no_tls(stacks):
    dev = stacks["dev"]
    assert _objects(dev, "HorizontalPodAutoscaler") == {}
    assert _objects(dev, "NetworkPolicy") == {}
    assert _objects(dev, "Deployment")["todo-backend"]["spec"]["replicas"] == 1
    assert "tls" not in _objects(dev, "Ingress")["todo-ingress"]["spec"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_network_policy_selects_real_pods(stacks, stack):
    policies = _objects(stacks[stack], "NetworkPolicy")
    assert "todo-default-deny-ingress" in policies
    for name, policy in policies.items():
        target = policy["spec"]["podSelector"].get("matchLabels", {})
        # cert-manager, not the stack, makes the HTTP-01 solver pods.
        if target and target != ACME_SOLVER_SELECTOR:
            assert _selects_a_pod(stacks[stack], target), f"{name} protects no pod: {target}"
        for rule in policy["spec"].get("ingress", []):
            for peer in rule["from"]:
                if "podSelector" in peer:
                    source = peer["podSelector"]["matchLabels"]
                    assert _selects_a_pod(stacks[stack], source), f"{name} admits no pod: {source}"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_monitoring_may_scrape_every_annotated_metrics_port(stacks, stack):
    policies = _objects(stacks[stack], "NetworkPolicy").values()
    monitoring = {"kubernetes.io/metadata.name": "monitoring"}
    scraped = [
        (name, pod_template(owner)["metadata"])
        for kind in WORKLOAD_KINDS
        for name, owner in _objects(stacks[stack], kind).items()
        if pod_template(owner)["metadata"].get("annotations", {}).get("prometheus.io/scrape")
    ]
    assert "todo-relay" in [name for name, _ in scraped]
    for name, pod in scraped:
        port = int(pod["annotations"]["prometheus.io/port"])
        assert any(
            policy["spec"]["podSelector"]["matchLabels"].items() <= pod["labels"].items()
            and any(
                {"namespaceSelector": {"matchLabels": monitoring}} in rule["from"]
                and port in [p["port"] for p in rule["ports"]]
                for rule in policy["spec"].get("ingress", [])
            )
            for policy in policies
        ), f"{name}: monitoring may not reach metrics port {port}"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_ingress_routes_to_services_with_an_http_port(stacks, stack):
    services = _objects(stacks[stack], "Service")
    (ingress,) = _objects(stacks[stack], "Ingress").values()
    for path in ingress["spec"]["rules"][0]["http"]["paths"]:
        backend = path["backend"]["service"]
        ports = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
        assert backend["port"]["name"] in ports, path["path"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_dapr_secret_references_name_existing_keys(stacks, stack):
    secrets = _objects(stacks[stack], "Secret")
    for component in _objects(stacks[stack], "Component").values():
        for item in component["spec"]["metadata"]:
            if "secretKeyRef" in item:
                ref = item["secretKeyRef"]
                secret = secrets[ref["name"]]
                keys = {*secret.get("data", {}), *secret.get("stringData", {})}
                assert ref["key"] in keys, item["name"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_api_sidecar_sends_the_token_the_api_expects(stacks, stack):
    secrets = {
        r.inputs["metadata"]["name"]: plain(r.inputs)["stringData"]
        for r in stacks[stack].registrations
        if r.type == "kubernetes:core/v1:Secret"
    }
    pod = _objects(stacks[stack], "Deployment")["todo-backend"]["spec"]["template"]
    injector = secrets[pod["metadata"]["annotations"]["dapr.io/app-token-secret"]]
    (api,) = [c for c in pod["spec"]["containers"] if c["name"] == "api"]
    path = "/var/run/secrets/todo/TODO_DAPR_APP_TOKEN"
    assert {"name": "TODO_DAPR_APP_TOKEN_FILE", "value": path} in api["env"]
    (files,) = [v["secret"] for v in pod["spec"]["volumes"] if v["name"] == "credentials-api"]
    assert {"key": "TODO_DAPR_APP_TOKEN", "path": "TODO_DAPR_APP_TOKEN"} in files["items"]
    token = secrets["todo-credentials"]["TODO_DAPR_APP_TOKEN"]
    assert injector == {"token": token}
    assert len(token) == 64


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_sidecar_names_the_rendered_dapr_configuration(stacks, stack):
    configurations = _objects(stacks[stack], "Configuration")
    pod = _objects(stacks[stack], "Deployment")["todo-backend"]["spec"]["template"]
    assert pod["metadata"]["annotations"]["dapr.io/config"] in configurations


def test_start_order_database_then_api_then_relay(stacks):
    prod = stacks["prod"]
    backend = _depends_on(prod, "todo-backend-deployment")
    assert {"todo-postgres-statefulset", "todo-dapr-configuration"} <= backend
    assert "todo-backend-deployment" in _depends_on(prod, "todo-relay-deployment")
    spec = _objects(prod, "Deployment")["todo-backend"]["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["wait-for-postgres", "migrate"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_rendered_dapr_objects_keep_top_level_scopes(stacks, stack):
    manifests = stacks[stack].manifests()
    scoped = [m for m in manifests if m["kind"] == "Component"]
    assert len(scoped) == 3
    for manifest in scoped:
        assert manifest["scopes"] == ["todo-api"], manifest["metadata"]["name"]


def test_prod_spreads_web_tier_and_brokers_over_zones(stacks):
    prod = stacks["prod"]
    spread = [
        *(_objects(prod, "Deployment")[name] for name in ("todo-backend", "todo-frontend")),
        _objects(prod, "StatefulSet")["todo-kafka"],
    ]
    for owner in spread:
        (constraint,) = owner["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert constraint["topologyKey"] == "topology.kubernetes.io/zone"
        assert (
            constraint["labelSelector"]["matchLabels"] == owner["spec"]["selector"]["matchLabels"]
        )


def test_staging_web_tier_is_not_zone_spread(stacks):
    backend = _objects(stacks["staging"], "Deployment")["todo-backend"]
    assert "topologySpreadConstraints" not in backend["spec"]["template"]["spec"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_tls_stacks_let_the_ingress_reach_the_acme_solver(stacks, stack):
    policies = _objects(stacks[stack], "NetworkPolicy")
    policy = policies["todo-allow-ingress-to-acme-solver"]
    (rule,) = policy["spec"]["ingress"]
    assert [p["port"] for p in rule["ports"]] == [8089]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    ]


def test_no_solver_policy_without_tls():
    rendered = render("staging", ingress={"tls": False})
    assert "todo-allow-ingress-to-acme-solver" not in _objects(rendered, "NetworkPolicy")


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_no_container_takes_a_whole_secret(stacks, stack):
    for kind in WORKLOAD_KINDS:
        for name, owner in _objects(stacks[stack], kind).items():
            spec = pod_template(owner)["spec"]
            for container in [*spec.get("initContainers", []), *spec["containers"]]:
                sources = container.get("envFrom", [])
                assert not [s for s in sources if "secretRef" in s], (name, container["name"])
