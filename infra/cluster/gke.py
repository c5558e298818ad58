"""A regional, VPC-native GKE cluster with private nodes, workload identity and one node pool.

The default node pool is removed: a pool made by the cluster resource cannot be changed
without replacing the cluster, a separate ``NodePool`` can. Nodes run as a dedicated service
account holding only the logging and monitoring roles, not the project's default Compute
account (which holds Editor). Private nodes reach the internet through Cloud NAT.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
from pydantic import BaseModel, ConfigDict, Field

from infra.cluster.access import cluster_provider, exec_kubeconfig
from infra.cluster.backup_store import BackupAccount
from infra.cluster.gke_backups import GkeBackupStore
from infra.cluster.settings import GkeSettings
from infra.cluster.storage import STORAGE_CLASSES, default_storage_class
from infra.labels import MANAGED_BY, PART_OF

PODS_RANGE = "pods"
SERVICES_RANGE = "services"
NODE_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
)
"""What a node needs besides pulling images: ship logs and metrics. Workloads get their own
identities."""
PULL_ROLE = "roles/artifactregistry.reader"
"""Pull images: on the stack's repository when ``cluster.registry`` makes one, else on the
project (the app image then lives in some repository of the project the stack does not know)."""


def _registry(
    name: str,
    settings: GkeSettings,
    *,
    member: pulumi.Output[str],
    opts: pulumi.ResourceOptions,
) -> tuple[gcp.artifactregistry.Repository, gcp.artifactregistry.RepositoryIamMember]:
    """The app image's Docker repository in the cluster's region, and the nodes' right to pull
    from it. Tags are immutable, so a tag the stack names always means the same image."""
    repository = gcp.artifactregistry.Repository(
        f"{name}-repository",
        repository_id=settings.registry.name,
        location=settings.region,
        format="DOCKER",
        docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(immutable_tags=True),
        opts=opts,
    )
    pull = gcp.artifactregistry.RepositoryIamMember(
        f"{name}-nodes-pull",
        repository=repository.name,
        location=settings.region,
        role=PULL_ROLE,
        member=member,
        opts=opts,
    )
    return repository, pull


def registry_url(settings: GkeSettings) -> str:
    """The Docker host and path images of the stack's repository are pushed to."""
    return f"{settings.region}-docker.pkg.dev/{settings.project}/{settings.registry.name}"


class GkeClusterArgs(BaseModel):
    """What the GKE component needs: its validated settings block."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    settings: GkeSettings = Field(description="The stack's `cluster` block (provider: gke).")
    backup: BackupAccount | None = Field(
        default=None, description="The backup CronJob's account, for a bucket of its own."
    )


def _kubeconfig(args: list[Any]) -> str:
    name, endpoint, ca_data = args
    return exec_kubeconfig(
        cluster=name,
        server=f"https://{endpoint}",
        ca_data=ca_data,
        command="gke-gcloud-auth-plugin",
        args=[],
    )


class GkeCluster(pulumi.ComponentResource):
    """A production GKE cluster; ``provider`` deploys onto it, ``kubeconfig`` is secret."""

    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    storage_class_name: str
    registry_url: pulumi.Output[str] | None
    backup_store: GkeBackupStore | None

    def __init__(
        self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:GkeCluster", name, None, opts)
        settings = args.settings
        labels = {"part-of": PART_OF, "managed-by": MANAGED_BY, **settings.labels}
        gcp_provider = gcp.Provider(
            f"{name}-gcp",
            project=settings.project,
            region=settings.region,
            default_labels=labels,
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=gcp_provider)

        network = gcp.compute.Network(
            f"{name}-network",
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            opts=child,
        )
        subnet = gcp.compute.Subnetwork(
            f"{name}-subnet",
            network=network.id,
            region=settings.region,
            ip_cidr_range=settings.subnet_cidr,
            private_ip_google_access=True,
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=PODS_RANGE, ip_cidr_range=settings.pods_cidr
                ),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=SERVICES_RANGE, ip_cidr_range=settings.services_cidr
                ),
            ],
            opts=child,
        )
        router = gcp.compute.Router(
            f"{name}-router", network=network.id, region=settings.region, opts=child
        )
        gcp.compute.RouterNat(
            f"{name}-nat",
            router=router.name,
            region=settings.region,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            opts=child,
        )

        node_account = gcp.serviceaccount.Account(
            f"{name}-nodes",
            account_id=f"{name}-nodes"[:30],
            display_name=f"{name} GKE nodes",
            opts=child,
        )
        member = node_account.email.apply(lambda email: f"serviceAccount:{email}")
        registry = (
            _registry(f"{name}-registry", settings, member=member, opts=child)
            if settings.registry.enabled
            else None
        )
        for role in NODE_ROLES if registry else (*NODE_ROLES, PULL_ROLE):
            gcp.projects.IAMMember(
                f"{name}-nodes-{role.rsplit('/', 1)[-1]}",
                project=settings.project,
                role=role,
                member=member,
                opts=child,
            )

        public = bool(settings.api_public_cidrs)
        cluster = gcp.container.Cluster(
            f"{name}-gke",
            location=settings.region,
            network=network.id,
            subnetwork=subnet.id,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=PODS_RANGE,
                services_secondary_range_name=SERVICES_RANGE,
            ),
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=gcp.container.ClusterNodeConfigArgs(
                service_account=node_account.email,
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
            ),
            min_master_version=settings.version,
            release_channel=gcp.container.ClusterReleaseChannelArgs(
                channel=settings.release_channel
            ),
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{settings.project}.svc.id.goog"
            ),
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True,
                enable_private_endpoint=not public,
                master_ipv4_cidr_block=settings.master_cidr,
            ),
            master_authorized_networks_config=gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
                cidr_blocks=[
                    gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                        cidr_block=cidr, display_name=f"allowed-{index}"
                    )
                    for index, cidr in enumerate(settings.api_public_cidrs)
                ],
            ),
            # Dataplane V2 enforces the stack's NetworkPolicies; without it they are ignored.
            datapath_provider="ADVANCED_DATAPATH",
            deletion_protection=settings.deletion_protection,
            resource_labels=labels,
            opts=child,
        )
        pool = settings.node_pool
        node_pool = gcp.container.NodePool(
            f"{name}-pool",
            cluster=cluster.id,
            location=settings.region,
            initial_node_count=max(pool.min, 1),
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                min_node_count=pool.min, max_node_count=pool.max
            ),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=pool.instance_type,
                disk_size_gb=pool.disk_gb,
                disk_type="pd-balanced",
                spot=settings.spot,
                service_account=node_account.email,
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA"
                ),
                shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
                labels={"app.kubernetes.io/part-of": PART_OF},
                resource_labels=labels,
            ),
            # The autoscaler owns the current size; Pulumi owns only the bounds.
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(ignore_changes=["initialNodeCount"])
            ),
        )

        self.backup_store = (
            GkeBackupStore(
                f"{name}-backups",
                args.backup,
                project=settings.project,
                region=settings.region,
                labels=labels,
                opts=child,
            )
            if args.backup
            else None
        )
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(
                cluster.name,
                cluster.endpoint,
                cluster.master_auth.apply(lambda auth: auth.cluster_ca_certificate or ""),
            ).apply(_kubeconfig)
        )
        self.provider = cluster_provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            identifier=cluster.id,
            parent=self,
            depends_on=[node_pool, *([registry[1]] if registry else [])],
        )
        self.storage_class_name = STORAGE_CLASSES["gke"].name
        self.registry_url = (
            registry[0].id.apply(lambda _: registry_url(settings)) if registry else None
        )
        default_storage_class(f"{name}-storage-class", "gke", provider=self.provider, parent=self)
        self.register_outputs(
            {
                "kubeconfig": self.kubeconfig,
                "cluster_name": cluster.name,
                "network": network.id,
                "registry_url": self.registry_url,
            }
        )
