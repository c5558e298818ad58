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


def _render() -> list[Registered]:
    args = NetworkPoliciesArgs(
        namespace="todo-app",
        instance="todo",
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


def _policies() -> dict[str, dict]:
    return {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in of_type(_render(), POLICY)}


def _ports(rule: dict) -> list[int]:
    return [port["port"] for port in rule["ports"]]


def _sources(rule: dict) -> list[dict]:
    return [
        peer.get("podSelector", peer.get("namespaceSelector"))["matchLabels"]
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
