"""An AKS cluster: a system pool for cluster add-ons, an autoscaling user pool for the app.

The system pool carries the ``CriticalAddonsOnly`` taint, so the application never competes
with CoreDNS or the metrics server for a node. The cluster runs under a system-assigned managed
identity (no service principal secret to rotate), with Calico enforcing the stack's
NetworkPolicies and workload identity for pods that call Azure.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_azure_native as azure
import pulumi_kubernetes as k8s
from pulumi_azure_native import containerservice as aks
from pydantic import BaseModel, ConfigDict, Field

from infra.cluster.access import cluster_provider
from infra.cluster.aks_backups import AksBackupStore
from infra.cluster.azure_roles import grant_builtin_role
from infra.cluster.backup_store import BackupAccount
from infra.cluster.settings import AksSettings, NodePool
from infra.cluster.storage import STORAGE_CLASSES, default_storage_class
from infra.labels import MANAGED_BY, PART_OF

SYSTEM_TAINT = "CriticalAddonsOnly=true:NoSchedule"
ACR_PULL_ROLE = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
"""The built-in AcrPull role: read images, nothing else."""
KUBELET_IDENTITY = "kubeletidentity"
"""The key of the identity the nodes' kubelets pull images with, in the cluster's
``identityProfile``: the cluster's own identity manages Azure resources, not pulls."""


def _kubelet_object_id(profile: Mapping[str, Any] | None) -> str:
    identity = (profile or {}).get(KUBELET_IDENTITY)
    if identity is None or not identity.object_id:
        raise ValueError("the AKS cluster reports no kubelet identity: AcrPull cannot be granted")
    return str(identity.object_id)


def _registry(
    name: str,
    settings: AksSettings,
    *,
    group: azure.resources.ResourceGroup,
    cluster: aks.ManagedCluster,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> tuple[azure.containerregistry.Registry, azure.authorization.RoleAssignment]:
    """The app image's container registry and the kubelet identity's AcrPull on it alone.

    No admin user: pushes authenticate as a person or a pipeline (``az acr login``), pulls as
    the kubelet identity, so no shared password exists to leak.
    """
    registry = azure.containerregistry.Registry(
        f"{name}-acr",
        registry_name=settings.registry.name,
        resource_group_name=group.name,
        location=settings.location,
        sku=azure.containerregistry.SkuArgs(name="Standard"),
        admin_user_enabled=False,
        tags=dict(tags),
        opts=opts,
    )
    pull = grant_builtin_role(
        f"{name}-kubelet-pull",
        role=ACR_PULL_ROLE,
        principal_id=cluster.identity_profile.apply(_kubelet_object_id),
        scope=registry.id,
        opts=opts,
    )
    return registry, pull


class AksClusterArgs(BaseModel):
    """What the AKS component needs: its validated settings block."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    settings: AksSettings = Field(description="The stack's `cluster` block (provider: aks).")
    backup: BackupAccount | None = Field(
        default=None, description="The backup CronJob's account, for a blob container of its own."
    )


def _pool(
    name: str, pool: NodePool, mode: str, settings: AksSettings
) -> aks.ManagedClusterAgentPoolProfileArgs:
    return aks.ManagedClusterAgentPoolProfileArgs(
        name=name,
        mode=mode,
        vm_size=pool.instance_type,
        os_type="Linux",
        os_disk_size_gb=pool.disk_gb,
        type="VirtualMachineScaleSets",
        availability_zones=list(settings.zones) or None,
        enable_auto_scaling=True,
        min_count=pool.min,
        max_count=pool.max,
        count=max(pool.min, 1),
        enable_node_public_ip=False,
        orchestrator_version=settings.version,
        node_taints=[SYSTEM_TAINT] if mode == "System" else None,
        node_labels={"app.kubernetes.io/part-of": PART_OF},
    )


def _network_profile(settings: AksSettings) -> aks.ContainerServiceNetworkProfileArgsDict:
    """Azure CNI, overlay or not; Calico enforces the stack's NetworkPolicies.

    A plain dict, not ``ContainerServiceNetworkProfileArgs``: that class fills in a default
    ``podCidr``, which AKS refuses for Azure CNI without overlay (pods take subnet addresses).
    """
    profile: aks.ContainerServiceNetworkProfileArgsDict = {
        "network_plugin": "azure",
        "service_cidr": settings.service_cidr,
        "dns_service_ip": settings.dns_service_ip,
        "network_policy": "calico",
        "load_balancer_sku": "standard",
        "outbound_type": "loadBalancer",
    }
    if settings.network_plugin == "azure-overlay":
        profile["network_plugin_mode"] = "overlay"
        profile["pod_cidr"] = settings.pod_cidr
    return profile


def decode_kubeconfig(encoded: str) -> str:
    """The AKS API returns the kubeconfig base64-encoded."""
    return base64.b64decode(encoded).decode()


class AksCluster(pulumi.ComponentResource):
    """A production AKS cluster; ``provider`` deploys onto it, ``kubeconfig`` is secret."""

    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    storage_class_name: str
    registry_url: pulumi.Output[str] | None
    backup_store: AksBackupStore | None

    def __init__(
        self, name: str, args: AksClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:AksCluster", name, None, opts)
        settings = args.settings
        tags = {"part-of": PART_OF, "managed-by": MANAGED_BY, **settings.tags}
        child = pulumi.ResourceOptions(parent=self)

        group = azure.resources.ResourceGroup(
            f"{name}-rg", location=settings.location, tags=tags, opts=child
        )
        public = bool(settings.api_public_cidrs)
        cluster = aks.ManagedCluster(
            f"{name}-aks",
            resource_group_name=group.name,
            location=settings.location,
            dns_prefix=name,
            kubernetes_version=settings.version,
            enable_rbac=True,
            identity=aks.ManagedClusterIdentityArgs(type=aks.ResourceIdentityType.SYSTEM_ASSIGNED),
            sku=aks.ManagedClusterSKUArgs(name="Base", tier=settings.tier),
            agent_pool_profiles=[
                _pool("system", settings.system_pool, "System", settings),
                _pool("user", settings.user_pool, "User", settings),
            ],
            network_profile=_network_profile(settings),
            api_server_access_profile=aks.ManagedClusterAPIServerAccessProfileArgs(
                enable_private_cluster=not public,
                authorized_ip_ranges=list(settings.api_public_cidrs) or None,
            ),
            oidc_issuer_profile=aks.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
            security_profile=aks.ManagedClusterSecurityProfileArgs(
                workload_identity=aks.ManagedClusterSecurityProfileWorkloadIdentityArgs(
                    enabled=True
                )
            ),
            auto_upgrade_profile=aks.ManagedClusterAutoUpgradeProfileArgs(
                upgrade_channel="patch", node_os_upgrade_channel="NodeImage"
            ),
            tags=tags,
            # The autoscaler owns the current node counts; Pulumi owns only the bounds.
            opts=pulumi.ResourceOptions(
                parent=self,
                ignore_changes=["agentPoolProfiles[0].count", "agentPoolProfiles[1].count"],
            ),
        )
        registry = (
            _registry(
                f"{name}-registry", settings, group=group, cluster=cluster, tags=tags, opts=child
            )
            if settings.registry.enabled
            else None
        )
        self.backup_store = (
            AksBackupStore(
                f"{name}-backups",
                args.backup,
                group=group,
                cluster=cluster,
                location=settings.location,
                zoned=bool(settings.zones),
                tags=tags,
                opts=child,
            )
            if args.backup
            else None
        )
        credentials = aks.list_managed_cluster_user_credentials_output(
            resource_group_name=group.name,
            resource_name=cluster.name,
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        self.kubeconfig = pulumi.Output.secret(
            credentials.kubeconfigs.apply(lambda configs: decode_kubeconfig(configs[0].value))
        )
        self.provider = cluster_provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            identifier=cluster.id,
            parent=self,
            depends_on=[registry[1]] if registry else [],
        )
        self.storage_class_name = STORAGE_CLASSES["aks"].name
        self.registry_url = registry[0].login_server if registry else None
        default_storage_class(f"{name}-storage-class", "aks", provider=self.provider, parent=self)
        self.register_outputs(
            {
                "kubeconfig": self.kubeconfig,
                "cluster_name": cluster.name,
                "resource_group": group.name,
                "registry_url": self.registry_url,
            }
        )
