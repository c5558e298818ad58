"""NetworkPolicies: deny all ingress in the namespace, then allow each path the platform uses.

The allowed paths, and nothing else:

- the ingress traffic to the frontend and the API (their HTTP ports), and with cert-manager
  HTTP-01 to its solver pods; where that traffic comes from follows the Ingress class
  (:func:`ingress_peers`);
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

import ipaddress
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

NAMESPACED_CLASSES: tuple[str, ...] = ("nginx",)
"""Ingress classes served by a controller in the cluster, in ``ingressNamespace``."""
LOAD_BALANCER_RANGES: dict[str, tuple[str, ...]] = {
    # Google's front ends and health checkers, the sources of the `gce` class's traffic to the
    # pods (container-native load balancing, the default on VPC-native GKE clusters).
    "gce": ("130.211.0.0/22", "35.191.0.0/16"),
}
"""Ingress classes whose load balancer sits outside the cluster, and its source ranges."""
POD_NETWORKS: tuple[str, ...] = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
"""The private and shared (CGNAT) ranges: every cluster's pod network lies in them, so the
pods of an in-cluster ingress controller do too."""
ACME_SOLVER_SELECTOR: Selector = {"acme.cert-manager.io/http01-solver": "true"}
"""The label cert-manager puts on its HTTP-01 solver pods, in the certificate's namespace."""
ACME_SOLVER_PORT = 8089


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
    ingress_source_cidrs: list[str] = Field(
        default_factory=list,
        description="Extra CIDR ranges the Ingress traffic comes from, for a load balancer "
        "outside the cluster (AKS Application Gateway: its subnet). Required for an "
        "`ingress.className` other than `nginx` (ingressNamespace) and `gce` (Google's ranges).",
    )

    @field_validator("ingress_namespace", "dapr_namespace", "monitoring_namespace")
    @classmethod
    def _namespace_name(cls, value: str, info: ValidationInfo) -> str:
        return require_dns_label(value, field=info.field_name or "namespace")

    @field_validator("ingress_source_cidrs")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry)
            except ValueError:
                raise ValueError(
                    f"ingressSourceCidrs entry {entry!r} is not a CIDR network (e.g. 10.1.0.0/24)"
                ) from None
        return value


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
    ingress_class: str = Field(
        default="nginx", description="The Ingress class: decides where public traffic comes from."
    )
    acme_http01: bool = Field(
        default=False,
        description="cert-manager answers HTTP-01 challenges through the Ingress: admit the "
        "ingress traffic to its solver pods too.",
    )
    public: tuple[Pods, ...] = Field(description="Pods the ingress controller reaches.")
    data_services: dict[str, DataService] = Field(description="Data services by short name.")
    dapr_apps: tuple[Pods, ...] = Field(default=(), description="Pods with a Dapr sidecar.")
    metrics: tuple[Pods, ...] = Field(default=(), description="Pods Prometheus scrapes.")


def _from_namespace(name: str) -> networking.NetworkPolicyPeerArgs:
    return networking.NetworkPolicyPeerArgs(
        namespace_selector=meta.LabelSelectorArgs(match_labels={NAMESPACE_LABEL: name})
    )


def _from_cidr(cidr: str) -> networking.NetworkPolicyPeerArgs:
    return networking.NetworkPolicyPeerArgs(ip_block=networking.IPBlockArgs(cidr=cidr))


def _outside_sources(settings: NetworkPolicySettings, ingress_class: str) -> tuple[str, ...]:
    return (*LOAD_BALANCER_RANGES.get(ingress_class, ()), *settings.ingress_source_cidrs)


def ingress_networks(settings: NetworkPolicySettings, ingress_class: str) -> tuple[str, ...]:
    """The networks the Ingress's traffic reaches the pods from: the in-cluster controller's pod
    network (:data:`POD_NETWORKS`, as no stack setting names the cluster's) or the outside load
    balancer's ranges. Behind the policies these are the only callers that may claim a client
    address, so they are the proxies the API believes."""
    inside = POD_NETWORKS if ingress_class in NAMESPACED_CLASSES else ()
    return (*inside, *_outside_sources(settings, ingress_class))


def ingress_peers(
    settings: NetworkPolicySettings, ingress_class: str
) -> list[networking.NetworkPolicyPeerArgs]:
    """Where the Ingress's traffic reaches the pods from, for its class.

    An in-cluster controller (``nginx``) sends from its pods, selected by namespace. A cloud
    load balancer sends from addresses outside any namespace: Google's documented ranges for
    ``gce``, the stack's ``ingressSourceCidrs`` for any other (Application Gateway). A class
    with neither would leave the site unreachable behind the default deny, so it is refused,
    naming the settings that fix it.
    """
    peers = (
        [_from_namespace(settings.ingress_namespace)] if ingress_class in NAMESPACED_CLASSES else []
    )
    peers += [_from_cidr(cidr) for cidr in _outside_sources(settings, ingress_class)]
    if not peers:
        raise ValueError(
            f"ingress.className={ingress_class!r} reaches the pods from addresses the "
            "NetworkPolicies do not know: set networkPolicies.ingressSourceCidrs to its load "
            "balancer's source ranges (Application Gateway: its subnet), use ingress.className "
            f"{' or '.join(repr(c) for c in (*NAMESPACED_CLASSES, *LOAD_BALANCER_RANGES))}, "
            "or set networkPolicies.enabled=false"
        )
    return peers


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

        public_peers = ingress_peers(settings, args.ingress_class)
        for pods in args.public:
            policy(
                f"allow-ingress-to-{pods.name}", pods.selector, [_rule(public_peers, pods.ports)]
            )
        if args.acme_http01:
            # cert-manager's solver pods run in this namespace, so the default deny blocks the
            # challenge (and every certificate) unless the ingress traffic may reach them.
            policy(
                "allow-ingress-to-acme-solver",
                ACME_SOLVER_SELECTOR,
                [_rule(public_peers, (ACME_SOLVER_PORT,))],
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
