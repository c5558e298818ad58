"""The one allow-list of engine warnings the deploy tests accept, each with its reason.

Every other warning diagnostic from `pulumi up|refresh|destroy` on the local control plane fails
the test that saw it: a warning on a real API server (a pod created before its ServiceAccount,
an Ingress before its Service, a Pod Security violation) is a defect until an entry here says
why it is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Allowed:
    """Warnings whose message matches ``pattern`` are expected, because of ``reason``."""

    pattern: str
    reason: str

    def matches(self, message: str) -> bool:
        return re.search(self.pattern, message) is not None


ALLOWED: tuple[Allowed, ...] = (
    Allowed(
        pattern=r"^using pulumi-resource-kubernetes from \$PATH at ",
        reason="scripts/pulumi-toolchain serves the provider it built from source on PATH (see "
        "docs/pulumi.md), and the engine notes every plugin it takes from PATH; with the "
        "installer route the plugin lives in the plugin folder and this is not printed",
    ),
    Allowed(
        pattern=r"^\[MinimumReplicasUnavailable\] Deployment does not have minimum availability",
        reason="the provider's await reports the new Deployment's condition while it waits for "
        "the first pods (ephemeral, seen once per Deployment at creation); the await then "
        "completes, and a Deployment that never becomes available fails the up instead",
    ),
    Allowed(
        pattern=r"^\[?(FailedGetResourceMetric|FailedComputeMetricsReplicas)\]?:? ",
        reason="the HorizontalPodAutoscalers' events on a cluster with no metrics server: the "
        "local control plane runs none (its nodes are simulated, so there is no usage to "
        "measure); on a real cluster `addons.metricsServer` or the cloud's provides it",
    ),
    Allowed(
        pattern=r"^\[?FailedToUpdateEndpointSlices\]?:? ",
        reason="the EndpointSlice controller's event when a Service's namespace is being "
        "deleted under it during destroy (it retries, then the namespace is gone); a race "
        "inside Kubernetes' namespace deletion, not an ordering of ours",
    ),
    Allowed(
        pattern=r"^\[?ClusterIPNotAllocated\]?:? Cluster IP \[IPv[46]\]: \S+ is not allocated; "
        r"repairing$",
        reason="kube-apiserver's ClusterIP repair controller (repairip.go) watches Services and "
        "IPAddresses through two separate informers; when a new Service reaches it before the "
        "IPAddress the allocator wrote with it, it reports this, its create of the IPAddress "
        "finds it there, and the retry finds nothing to repair. A race inside the API server, "
        "seen once in CI on a busy 2-core machine; the IPs are the API server's alone",
    ),
)
"""Nothing about the stacks themselves: they deploy, change and go without a warning."""


def unexpected(diagnostics: list[dict[str, str]]) -> list[str]:
    """The warnings and errors no entry of :data:`ALLOWED` explains, as ``urn: message``."""
    return [
        f"{d['severity']} {d['urn']}: {d['message']}"
        for d in diagnostics
        if d["severity"] == "error" or not any(a.matches(d["message"]) for a in ALLOWED)
    ]
