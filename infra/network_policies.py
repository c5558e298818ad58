"""NetworkPolicies: deny all ingress in the namespace, then allow each path the platform uses.

The allowed paths, and nothing else:

- the ingress controller's namespace to the frontend and the API (their HTTP ports);
- the clients of each data service to it (API and relay to PostgreSQL, Redis and Kafka; the
  Kafka exporter and the topics Job to Kafka), and Kafka nodes to each other;
- the Dapr control plane and other Dapr sidecars to the sidecar ports of Dapr-enabled pods;
- the monitoring namespace to every metrics port.

Only ingress is restricted: egress stays open so DNS, the Kubernetes API and the Dapr control
plane need no list of addresses. Probes come from the kubelet on the node, which NetworkPolicies
do not govern in the common CNIs. Which pods are which comes from the platform as selectors, so
this module knows no workload's labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes.meta.v1 as meta
import pulumi_kubernetes.networking.v1 as networking
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from infra.component import ComponentArgs, SettingsModel, child_options
from infra.dapr.sidecar import METRICS_PORT as DAPR_METRICS_PORT
from infra.dapr.sidecar import SIDECAR_PORTS
from infra.labels import unversioned_labels
from infra.naming import child_name, require_dns_label
from infra.workload import object_meta

NAMESPACE_LABEL = "kubernetes.io/metadata.name"
"""Set by Kubernetes on every namespace; selects a namespace by name."""

Selector = dict[str, str]


class NetworkPolicySettings(SettingsModel):
    """Whether the namespace is locked down, and where the trusted callers live."""

    enabled: bool = Field(
        default=True,
        description="Deny all ingress except the platform's own paths. Needs a CNI that "
        "enforces NetworkPolicies (Calico, Cilium, cloud CNIs with policy on).",
    )
    ingress_namespace: str = Field(
        default="ingress-nginx", description="Namespace of the ingress-nginx controller."
    )
    dapr_namespace: str = Field(default="dapr-system", description="Dapr control-plane namespace.")
    monitoring_namespace: str = Field(
        default="monitoring", description="Namespace of the Prometheus that scrapes the pods."
    )

    @field_validator("ingress_namespace", "dapr_namespace", "monitoring_namespace")
    @classmethod
    def _namespace_name(cls, value: str, info: ValidationInfo) -> str:
        return require_dns_label(value, field=info.field_name or "namespace")


class Pods(BaseModel):
    """A group of pods, named for the policies that protect it, and the ports it serves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    selector: Selector
    ports: tuple[int, ...] = ()


class DataService(BaseModel):
    """A data service, who may call it, and the ports its own nodes use between them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pods: Pods
    clients: tuple[Selector, ...]
    peer_ports: tuple[int, ...] = ()


class NetworkPoliciesArgs(ComponentArgs):
    """The pods the policies protect, as the platform labels them."""

    settings: NetworkPolicySettings = Field(default_factory=NetworkPolicySettings)
    public: tuple[Pods, ...] = Field(description="Pods the ingress controller reaches.")
    data_services: dict[str, DataService] = Field(description="Data services by short name.")
    dapr_apps: tuple[Pods, ...] = Field(default=(), description="Pods with a Dapr sidecar.")
    metrics: tuple[Pods, ...] = Field(default=(), description="Pods Prometheus scrapes.")


def _from_namespace(name: str) -> networking.NetworkPolicyPeerArgs:
    return networking.NetworkPolicyPeerArgs(
        namespace_selector=meta.LabelSelectorArgs(match_labels={NAMESPACE_LABEL: name})
    )


def _from_pods(selector: Mapping[str, str]) -> networking.NetworkPolicyPeerArgs:
    return networking.NetworkPolicyPeerArgs(
        pod_selector=meta.LabelSelectorArgs(match_labels=dict(selector))
    )


def _ports(ports: Sequence[int]) -> list[networking.NetworkPolicyPortArgs]:
    return [networking.NetworkPolicyPortArgs(port=port, protocol="TCP") for port in ports]


def _rule(
    peers: Sequence[networking.NetworkPolicyPeerArgs], ports: Sequence[int]
) -> networking.NetworkPolicyIngressRuleArgs:
    return networking.NetworkPolicyIngressRuleArgs(from_=list(peers), ports=_ports(ports))


class NetworkPolicies(pulumi.ComponentResource):
    """The default-deny policy and one allow policy per path."""

    def __init__(
        self, name: str, args: NetworkPoliciesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:NetworkPolicies", name, None, opts)
        child = child_options(self, opts)
        settings = args.settings
        labels = unversioned_labels("network-policy", args.instance, "network-policy")

        def policy(
            role: str,
            selector: Mapping[str, str],
            rules: Sequence[networking.NetworkPolicyIngressRuleArgs],
        ) -> None:
            networking.NetworkPolicy(
                f"{name}-{role}",
                metadata=object_meta(
                    child_name(args.instance, role), namespace=args.namespace, labels=labels
                ),
                spec=networking.NetworkPolicySpecArgs(
                    pod_selector=meta.LabelSelectorArgs(match_labels=dict(selector)),
                    policy_types=["Ingress"],
                    ingress=list(rules),
                ),
                opts=child,
            )

        # An empty selector and no rules: every pod, nothing allowed in.
        policy("default-deny-ingress", {}, [])

        for pods in args.public:
            policy(
                f"allow-ingress-to-{pods.name}",
                pods.selector,
                [_rule([_from_namespace(settings.ingress_namespace)], pods.ports)],
            )

        for service, data in args.data_services.items():
            rules = [_rule([_from_pods(client) for client in data.clients], data.pods.ports)]
            if data.peer_ports:
                rules.append(_rule([_from_pods(data.pods.selector)], data.peer_ports))
            policy(f"allow-clients-to-{service}", data.pods.selector, rules)

        dapr_peers = [_from_namespace(settings.dapr_namespace)] + [
            _from_pods(app.selector) for app in args.dapr_apps
        ]
        for app in args.dapr_apps:
            policy(f"allow-dapr-to-{app.name}", app.selector, [_rule(dapr_peers, SIDECAR_PORTS)])

        for pods in args.metrics:
            policy(
                f"allow-scrape-{pods.name}",
                pods.selector,
                [_rule([_from_namespace(settings.monitoring_namespace)], pods.ports)],
            )

        self.register_outputs({})


def with_dapr_metrics(pods: Pods) -> Pods:
    """A Dapr-enabled pod's scrape ports: its own metrics ports plus the sidecar's."""
    return pods.model_copy(update={"ports": (*pods.ports, DAPR_METRICS_PORT)})
