"""Optional cluster add-ons (ingress-nginx, cert-manager, Dapr, metrics-server,
kube-prometheus-stack), via Helm."""

from __future__ import annotations

from infra.addons.cluster_addons import ClusterAddons, ClusterAddonsArgs
from infra.addons.settings import AddonsSettings, check_for_cloud

__all__ = ["AddonsSettings", "ClusterAddons", "ClusterAddonsArgs", "check_for_cloud"]
