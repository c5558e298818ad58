"""NetworkPolicies: default deny, then exactly the platform's paths."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.network_policies import (
    DataService,
    NetworkPolicies,
    NetworkPoliciesArgs,
    NetworkPolicySettings,
    Pods,
    with_dapr_metrics,
)
from tests.infra.mock_run import Registered, of_type, run

POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
FRONTEND = {"app.kubernetes.io/component": "frontend"}
BACKEND = {"app.kubernetes.io/component": "backend"}
RELAY = {"app.kubernetes.io/component": "relay"}
POSTGRES = {"app.kubernetes.io/component": "postgres"}
KAFKA = {"app.kubernetes.io/component": "kafka"}


def _render(**options: object) -> list[Registered]:
    args = NetworkPoliciesArgs(
        namespace="todo-app",
        instance="todo",
        **options,
        public=(
            Pods(name="frontend", selector=FRONTEND, ports=(8080,)),
            Pods(name="backend", selector=BACKEND, ports=(8000,)),
        ),
        data_services={
            "postgres": DataService(
                pods=Pods(name="postgres", selector=POSTGRES, ports=(5432,)),
                clients=(BACKEND, RELAY),
            ),
            "kafka": DataService(
                pods=Pods(name="kafka", selector=KAFKA, ports=(9092,)),
                clients=(BACKEND, RELAY),
                peer_ports=(9092, 9093),
            ),
        },
        dapr_apps=(Pods(name="backend", selector=BACKEND),),
        metrics=(
            with_dapr_metrics(Pods(name="backend", selector=BACKEND, ports=(8000,))),
            Pods(name="postgres", selector=POSTGRES, ports=(9187,)),
        ),
    )
    return run(lambda: NetworkPolicies("policies", args))


def _policies(**options: object) -> dict[str, dict]:
    return {
        r.inputs["metadata"]["name"]: r.inputs["spec"] for r in of_type(_render(**options), POLICY)
    }


def _ports(rule: dict) -> list[int]:
    return [port["port"] for port in rule["ports"]]


def _sources(rule: dict) -> list[dict]:
    return [
        peer["ipBlock"]
        if "ipBlock" in peer
        else peer.get("podSelector", peer.get("namespaceSelector"))["matchLabels"]
        for peer in rule["from"]
    ]


def test_default_deny_selects_every_pod_and_allows_nothing():
    deny = _policies()["todo-default-deny-ingress"]
    assert deny["podSelector"] == {"matchLabels": {}}
    assert deny["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny or deny["ingress"] == []


def test_only_the_ingress_controller_reaches_frontend_and_backend():
    policies = _policies()
    for name, selector, port in (("frontend", FRONTEND, 8080), ("backend", BACKEND, 8000)):
        policy = policies[f"todo-allow-ingress-to-{name}"]
        assert policy["podSelector"]["matchLabels"] == selector
        (rule,) = policy["ingress"]
        assert _sources(rule) == [{"kubernetes.io/metadata.name": "ingress-nginx"}]
        assert _ports(rule) == [port]


def test_backend_and_relay_reach_postgres_and_nothing_else_does():
    policy = _policies()["todo-allow-clients-to-postgres"]
    assert policy["podSelector"]["matchLabels"] == POSTGRES
    (rule,) = policy["ingress"]
    assert _sources(rule) == [BACKEND, RELAY]
    assert _ports(rule) == [5432]


def test_kafka_nodes_reach_each_other_on_client_and_controller_ports():
    clients, peers = _policies()["todo-allow-clients-to-kafka"]["ingress"]
    assert _sources(clients) == [BACKEND, RELAY]
    assert _sources(peers) == [KAFKA]
    assert _ports(peers) == [9092, 9093]


def test_dapr_control_plane_and_sidecars_reach_the_sidecar_ports():
    (rule,) = _policies()["todo-allow-dapr-to-backend"]["ingress"]
    assert _sources(rule) == [{"kubernetes.io/metadata.name": "dapr-system"}, BACKEND]
    assert _ports(rule) == [3500, 50001, 50002]


def test_prometheus_scrapes_app_and_sidecar_metrics():
    (rule,) = _policies()["todo-allow-scrape-backend"]["ingress"]
    assert _sources(rule) == [{"kubernetes.io/metadata.name": "monitoring"}]
    assert _ports(rule) == [8000, 9090]


def test_every_policy_restricts_ingress_only():
    for name, spec in _policies().items():
        assert spec["policyTypes"] == ["Ingress"], name


def test_bad_namespace_name_is_refused():
    with pytest.raises(ValidationError, match="monitoring_namespace='Monitoring'"):
        NetworkPolicySettings(monitoring_namespace="Monitoring")


def test_ingress_traffic_reaches_the_acme_solver_when_certificates_use_http01():
    policy = _policies(acme_http01=True)["todo-allow-ingress-to-acme-solver"]
    assert policy["podSelector"]["matchLabels"] == {"acme.cert-manager.io/http01-solver": "true"}
    (rule,) = policy["ingress"]
    assert _sources(rule) == [{"kubernetes.io/metadata.name": "ingress-nginx"}]
    assert _ports(rule) == [8089]


def test_no_solver_policy_without_http01():
    assert "todo-allow-ingress-to-acme-solver" not in _policies()


def test_gce_class_admits_googles_load_balancer_ranges():
    policies = _policies(ingress_class="gce", acme_http01=True)
    for name in ("frontend", "backend", "acme-solver"):
        (rule,) = policies[f"todo-allow-ingress-to-{name}"]["ingress"]
        assert _sources(rule) == [{"cidr": "130.211.0.0/22"}, {"cidr": "35.191.0.0/16"}], name


def test_other_classes_admit_the_configured_source_ranges():
    settings = NetworkPolicySettings(ingress_source_cidrs=["10.225.0.0/24"])
    policies = _policies(ingress_class="azure-application-gateway", settings=settings)
    (rule,) = policies["todo-allow-ingress-to-backend"]["ingress"]
    assert _sources(rule) == [{"cidr": "10.225.0.0/24"}]


def test_a_class_with_no_known_source_is_refused():
    with pytest.raises(ValueError, match=r"networkPolicies\.ingressSourceCidrs"):
        _render(ingress_class="azure-application-gateway")
