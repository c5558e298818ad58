"""GKE under mocks: the whole graph, private nodes, workload identity, bounds from settings."""

from __future__ import annotations

import json

import pulumi

from infra.cluster import GkeSettings, NodePool
from infra.cluster.gke import NODE_ROLES, PULL_ROLE, GkeCluster, GkeClusterArgs
from tests.clouds.harness import Recording, build_cluster, secret_flag

EXPECTED_COUNTS = {
    "pulumi:providers:gcp": 1,
    "gcp:compute/network:Network": 1,
    "gcp:compute/subnetwork:Subnetwork": 1,
    "gcp:compute/router:Router": 1,
    "gcp:compute/routerNat:RouterNat": 1,
    "gcp:serviceaccount/account:Account": 1,
    "gcp:projects/iAMMember:IAMMember": len(NODE_ROLES) + 1,
    "gcp:container/cluster:Cluster": 1,
    "gcp:container/nodePool:NodePool": 1,
    "pulumi:providers:kubernetes": 1,
    "kubernetes:storage.k8s.io/v1:StorageClass": 1,
    "todo:infra:GkeCluster": 1,
}


def gke(**overrides: object) -> GkeSettings:
    return GkeSettings.model_validate(
        {"provider": "gke", "project": "todo-prod-1234", "region": "europe-west1", **overrides}
    )


def build(settings: GkeSettings) -> tuple[Recording, pulumi.Output[str]]:
    recording, cluster = build_cluster(
        lambda: GkeCluster("prod", GkeClusterArgs(settings=settings))
    )
    return recording, cluster.kubeconfig


def test_the_graph_is_complete() -> None:
    recording, _ = build(gke())
    assert recording.counts() == EXPECTED_COUNTS
    assert recording.invokes == []


def test_every_kubernetes_resource_uses_the_cluster_provider() -> None:
    recording, _ = build(gke())
    kube = [r for r in recording.resources if r.type.startswith("kubernetes:")]
    assert kube
    assert {r.provider_name for r in kube} == {"prod-k8s"}
    gcp_resources = [r for r in recording.resources if r.type.startswith("gcp:")]
    assert {r.provider_name for r in gcp_resources} == {"prod-gcp"}


def test_provider_has_cluster_identifier_and_kubeconfig_is_secret() -> None:
    recording, kubeconfig = build(gke())
    provider = recording.one("pulumi:providers:kubernetes")
    assert provider.inputs["clusterIdentifier"] == "prod-gke-id"
    assert secret_flag(kubeconfig)
    config = json.loads(recording.outputs["kubeconfig"])
    assert config["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert config["clusters"][0]["cluster"]["server"] == "https://192.0.2.10"


def test_vpc_native_with_named_secondary_ranges() -> None:
    recording, _ = build(gke(pods_cidr="10.60.0.0/14", services_cidr="10.64.0.0/20"))
    subnet = recording.one("gcp:compute/subnetwork:Subnetwork")
    ranges = {r["rangeName"]: r["ipCidrRange"] for r in subnet.inputs["secondaryIpRanges"]}
    assert ranges == {"pods": "10.60.0.0/14", "services": "10.64.0.0/20"}
    cluster = recording.one("gcp:container/cluster:Cluster").inputs
    assert cluster["networkingMode"] == "VPC_NATIVE"
    assert cluster["ipAllocationPolicy"] == {
        "clusterSecondaryRangeName": "pods",
        "servicesSecondaryRangeName": "services",
    }


def test_workload_identity_release_channel_and_no_default_pool() -> None:
    recording, _ = build(gke(release_channel="STABLE"))
    cluster = recording.one("gcp:container/cluster:Cluster").inputs
    assert cluster["workloadIdentityConfig"] == {"workloadPool": "todo-prod-1234.svc.id.goog"}
    assert cluster["releaseChannel"] == {"channel": "STABLE"}
    assert cluster["removeDefaultNodePool"] is True
    assert cluster["datapathProvider"] == "ADVANCED_DATAPATH"
    pool = recording.one("gcp:container/nodePool:NodePool").inputs
    assert pool["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}


def test_node_pool_bounds_come_from_settings() -> None:
    recording, _ = build(gke(node_pool=NodePool(instance_type="n2-standard-8", min=2, max=7)))
    pool = recording.one("gcp:container/nodePool:NodePool").inputs
    assert pool["autoscaling"] == {"minNodeCount": 2, "maxNodeCount": 7}
    assert pool["nodeConfig"]["machineType"] == "n2-standard-8"


def test_nothing_is_public_by_default() -> None:
    recording, _ = build(gke())
    private = recording.one("gcp:container/cluster:Cluster").inputs["privateClusterConfig"]
    assert private["enablePrivateNodes"] is True
    assert private["enablePrivateEndpoint"] is True
    networks = recording.one("gcp:container/cluster:Cluster").inputs
    assert networks["masterAuthorizedNetworksConfig"].get("cidrBlocks", []) == []


def test_public_endpoint_only_for_the_listed_cidrs() -> None:
    recording, _ = build(gke(api_public_cidrs=["198.51.100.0/24"]))
    cluster = recording.one("gcp:container/cluster:Cluster").inputs
    assert cluster["privateClusterConfig"]["enablePrivateEndpoint"] is False
    assert cluster["privateClusterConfig"]["enablePrivateNodes"] is True
    blocks = cluster["masterAuthorizedNetworksConfig"]["cidrBlocks"]
    assert [b["cidrBlock"] for b in blocks] == ["198.51.100.0/24"]


def test_nodes_run_as_their_own_least_privilege_account() -> None:
    recording, _ = build(gke())
    email = "prod-nodes@offline.iam.gserviceaccount.com"
    pool = recording.one("gcp:container/nodePool:NodePool").inputs
    assert pool["nodeConfig"]["serviceAccount"] == email
    roles = sorted(m.inputs["role"] for m in recording.of_type("gcp:projects/iAMMember:IAMMember"))
    assert roles == sorted((*NODE_ROLES, PULL_ROLE))
    assert not any("editor" in role or "owner" in role for role in roles)


def test_pd_ssd_is_the_default_storage_class() -> None:
    recording, _ = build(gke())
    storage = recording.one("kubernetes:storage.k8s.io/v1:StorageClass").inputs
    assert storage["provisioner"] == "pd.csi.storage.gke.io"
    assert storage["parameters"] == {"type": "pd-ssd"}


def test_no_registry_unless_enabled() -> None:
    recording, _ = build(gke())
    assert recording.of_type("gcp:artifactregistry/repository:Repository") == []


def test_an_enabled_registry_is_the_only_one_the_nodes_may_pull_from() -> None:
    recording, _ = build(gke(registry={"enabled": True, "name": "todo"}))
    repository = recording.one("gcp:artifactregistry/repository:Repository")
    assert repository.inputs["repositoryId"] == "todo"
    assert repository.inputs["location"] == "europe-west1"
    assert repository.inputs["format"] == "DOCKER"
    assert repository.inputs["dockerConfig"] == {"immutableTags": True}
    pull = recording.one("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
    assert pull.inputs == {
        "repository": "projects/offline/locations/europe-west1/repositories/todo",
        "location": "europe-west1",
        "role": PULL_ROLE,
        "member": "serviceAccount:prod-nodes@offline.iam.gserviceaccount.com",
    }
    project_roles = [
        m.inputs["role"] for m in recording.of_type("gcp:projects/iAMMember:IAMMember")
    ]
    assert sorted(project_roles) == sorted(NODE_ROLES)
    provider = recording.one("pulumi:providers:kubernetes")
    assert pull.urn in provider.dependencies
    assert recording.outputs["registry"] == "europe-west1-docker.pkg.dev/todo-prod-1234/todo"
