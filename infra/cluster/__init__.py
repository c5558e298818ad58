"""Optional cluster provisioning: one component per cloud, chosen by ``cluster.provider``."""

from __future__ import annotations

from typing import Protocol

import pulumi
import pulumi_kubernetes as k8s

from infra.cluster.backup_store import BackupAccount, BackupStore
from infra.cluster.settings import (
    AksSettings,
    ClusterSettings,
    EksSettings,
    GkeSettings,
    NoCluster,
    NodePool,
    RegistrySettings,
)

__all__ = [
    "AksSettings",
    "ClusterSettings",
    "EksSettings",
    "GkeSettings",
    "NoCluster",
    "NodePool",
    "ProvisionedCluster",
    "RegistrySettings",
    "existing_cluster_provider",
    "provision_cluster",
]


class ProvisionedCluster(Protocol):
    """What every cloud component offers the rest of the stack."""

    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    storage_class_name: str
    registry_url: pulumi.Output[str] | None
    """Where to push the app image, when ``cluster.registry`` made a registry."""

    @property
    def backup_store(self) -> BackupStore | None:
        """The backup CronJob's bucket and identity, when ``backup.objectStore`` asked for them."""


def provision_cluster(
    name: str,
    settings: ClusterSettings,
    opts: pulumi.ResourceOptions | None = None,
    *,
    backup: BackupAccount | None = None,
) -> ProvisionedCluster | None:
    """The cluster component the settings ask for, or ``None`` to use an existing cluster;
    with ``backup``, it also makes the backup bucket that account alone may use.

    The cloud SDKs are imported here, on demand, so a stack without a cloud cluster loads none.
    """
    if isinstance(settings, EksSettings):
        from infra.cluster.eks import EksCluster, EksClusterArgs

        return EksCluster(name, EksClusterArgs(settings=settings, backup=backup), opts)
    if isinstance(settings, GkeSettings):
        from infra.cluster.gke import GkeCluster, GkeClusterArgs

        return GkeCluster(name, GkeClusterArgs(settings=settings, backup=backup), opts)
    if isinstance(settings, AksSettings):
        from infra.cluster.aks import AksCluster, AksClusterArgs

        return AksCluster(name, AksClusterArgs(settings=settings, backup=backup), opts)
    return None


def existing_cluster_provider(name: str, settings: ClusterSettings) -> k8s.Provider | None:
    """A provider for the existing cluster the settings name, or ``None`` for the ambient one
    (and for a cloud cluster, whose component makes its own provider).

    The kubeconfig path and context are the cluster's identity here: editing the file (a new
    token, a new CA) then updates the provider instead of replacing every object.
    """
    if (
        not isinstance(settings, NoCluster)
        or (settings.kubeconfig, settings.context) == (None,) * 2
    ):
        return None
    return k8s.Provider(
        name,
        kubeconfig=settings.kubeconfig,
        context=settings.context,
        cluster_identifier=f"{settings.kubeconfig or 'ambient'}#{settings.context or 'current'}",
    )
