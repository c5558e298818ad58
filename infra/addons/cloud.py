"""What each cloud changes about the add-ons, as data: selected by ``cluster.provider``.

Components look their cloud up here instead of branching on it. ``none`` is a cluster the
stack did not make (kind, k3s, an on-premises cluster): plain ``LoadBalancer`` Services.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

CloudName = Literal["none", "eks", "gke", "aks"]
LoadBalancer = Literal["public", "internal"]


@dataclass(frozen=True)
class CloudTraits:
    """How ingress-nginx's Service is exposed, and what the cloud already runs."""

    public_annotations: dict[str, str] = field(default_factory=dict)
    internal_annotations: dict[str, str] = field(default_factory=dict)
    ingress_classes: tuple[str, ...] = ("nginx",)
    ships_metrics_server: bool = False
    note: str = ""

    def service_annotations(self, load_balancer: LoadBalancer) -> dict[str, str]:
        return dict(
            self.public_annotations if load_balancer == "public" else self.internal_annotations
        )


_AWS_NLB = {
    # An NLB passes TCP through, so ingress-nginx sees client addresses (externalTrafficPolicy
    # Local) and does TLS itself; a Classic ELB would be the in-tree default.
    "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
    "service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled": "true",
}

CLOUDS: dict[CloudName, CloudTraits] = {
    "none": CloudTraits(
        internal_annotations={},
        note="An existing cluster: its own load balancer integration decides what is reachable.",
    ),
    "eks": CloudTraits(
        public_annotations=_AWS_NLB,
        internal_annotations={
            **_AWS_NLB,
            "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
        },
    ),
    "gke": CloudTraits(
        internal_annotations={"networking.gke.io/load-balancer-type": "Internal"},
        ingress_classes=("nginx", "gce"),
        ships_metrics_server=True,
        note="The 'gce' class uses Google's HTTP(S) load balancer instead of ingress-nginx.",
    ),
    "aks": CloudTraits(
        # Azure's load balancer probes HTTP on "/" by default, which ingress-nginx answers 404.
        public_annotations={
            "service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path": "/healthz"
        },
        internal_annotations={
            "service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path": "/healthz",
            "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
        },
        ships_metrics_server=True,
        note=(
            "Application Gateway (AGIC) can replace ingress-nginx as a managed L7 load "
            "balancer with WAF; it is enabled on the cluster, not by this stack (docs/clouds.md)."
        ),
    ),
}
