"""AKS under mocks: the whole graph, credentials look-up, private by default, two pools."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest
from pydantic import ValidationError

from infra.cluster import AksSettings, NodePool
from infra.cluster.aks import ACR_PULL_ROLE, AksCluster, AksClusterArgs
from infra.cluster.offline import OFFLINE_KUBECONFIG, OFFLINE_SUBSCRIPTION
from tests.clouds.harness import Recording, build_cluster, secret_flag

EXPECTED_COUNTS = {
    "azure-native:resources:ResourceGroup": 1,
    "azure-native:containerservice:ManagedCluster": 1,
    "pulumi:providers:kubernetes": 1,
    "kubernetes:storage.k8s.io/v1:StorageClass": 1,
    "todo:infra:AksCluster": 1,
}


def aks(**overrides: object) -> AksSettings:
    return AksSettings.model_validate({"provider": "aks", "location": "westeurope", **overrides})


def build(settings: AksSettings) -> tuple[Recording, pulumi.Output[str]]:
    recording, cluster = build_cluster(
        lambda: AksCluster("prod", AksClusterArgs(settings=settings))
    )
    return recording, cluster.kubeconfig


def cluster_inputs(recording: Recording) -> dict[str, Any]:
    return recording.one("azure-native:containerservice:ManagedCluster").inputs


def test_the_graph_is_complete() -> None:
    recording, _ = build(aks())
    assert recording.counts() == EXPECTED_COUNTS


def test_kubeconfig_comes_from_the_user_credentials_and_is_secret() -> None:
    recording, kubeconfig = build(aks())
    assert recording.invokes == ["azure-native:containerservice:listManagedClusterUserCredentials"]
    assert recording.outputs["kubeconfig"] == OFFLINE_KUBECONFIG
    assert secret_flag(kubeconfig)
    provider = recording.one("pulumi:providers:kubernetes")
    assert provider.inputs["clusterIdentifier"] == "prod-aks-id"


def test_every_kubernetes_resource_uses_the_cluster_provider() -> None:
    recording, _ = build(aks())
    kube = [r for r in recording.resources if r.type.startswith("kubernetes:")]
    assert kube
    assert {r.provider_name for r in kube} == {"prod-k8s"}


def test_system_and_user_pools_autoscale_within_settings() -> None:
    recording, _ = build(
        aks(
            system_pool=NodePool(instance_type="Standard_D2s_v5", min=1, max=2),
            user_pool=NodePool(instance_type="Standard_D8s_v5", min=3, max=12),
        )
    )
    pools = {p["name"]: p for p in cluster_inputs(recording)["agentPoolProfiles"]}
    assert pools["system"]["mode"] == "System"
    assert pools["system"]["nodeTaints"] == ["CriticalAddonsOnly=true:NoSchedule"]
    assert (pools["user"]["minCount"], pools["user"]["maxCount"]) == (3, 12)
    assert pools["user"]["vmSize"] == "Standard_D8s_v5"
    assert all(p["enableAutoScaling"] is True for p in pools.values())
    assert all(p["availabilityZones"] == ["1", "2", "3"] for p in pools.values())


def test_a_region_without_zones() -> None:
    recording, _ = build(aks(zones=[]))
    pools = cluster_inputs(recording)["agentPoolProfiles"]
    assert all("availabilityZones" not in p for p in pools)


def test_managed_identity_and_overlay_networking() -> None:
    recording, _ = build(aks())
    inputs = cluster_inputs(recording)
    assert inputs["identity"] == {"type": "SystemAssigned"}
    network = inputs["networkProfile"]
    assert network["networkPlugin"] == "azure"
    assert network["networkPluginMode"] == "overlay"
    assert network["networkPolicy"] == "calico"


def test_azure_cni_without_overlay_has_no_pod_cidr() -> None:
    recording, _ = build(aks(network_plugin="azure-cni"))
    network = cluster_inputs(recording)["networkProfile"]
    assert "networkPluginMode" not in network
    assert "podCidr" not in network


def test_nothing_is_public_by_default() -> None:
    recording, _ = build(aks())
    inputs = cluster_inputs(recording)
    assert inputs["apiServerAccessProfile"] == {"enablePrivateCluster": True}
    pools = inputs["agentPoolProfiles"]
    assert all(p["enableNodePublicIP"] is False for p in pools)


def test_authorized_ranges_make_the_api_public_to_them_only() -> None:
    recording, _ = build(aks(api_public_cidrs=["192.0.2.0/24"]))
    assert cluster_inputs(recording)["apiServerAccessProfile"] == {
        "enablePrivateCluster": False,
        "authorizedIPRanges": ["192.0.2.0/24"],
    }


def test_premium_ssd_is_the_default_storage_class() -> None:
    recording, _ = build(aks())
    storage = recording.one("kubernetes:storage.k8s.io/v1:StorageClass").inputs
    assert storage["provisioner"] == "disk.csi.azure.com"
    assert storage["parameters"]["skuName"] == "Premium_LRS"
    assert json.dumps(storage["metadata"]["annotations"]) == json.dumps(
        {"storageclass.kubernetes.io/is-default-class": "true"}
    )


def test_no_registry_unless_enabled() -> None:
    recording, _ = build(aks())
    assert recording.of_type("azure-native:containerregistry:Registry") == []
    assert recording.of_type("azure-native:authorization:RoleAssignment") == []


def test_an_enabled_registry_lets_the_kubelet_identity_pull_and_nothing_else() -> None:
    recording, _ = build(aks(registry={"enabled": True, "name": "todoregistry"}))
    registry = recording.one("azure-native:containerregistry:Registry")
    assert registry.inputs["registryName"] == "todoregistry"
    assert registry.inputs["adminUserEnabled"] is False
    assert registry.inputs["resourceGroupName"] == "prod-rg"
    pull = recording.one("azure-native:authorization:RoleAssignment")
    assert pull.inputs == {
        "principalId": "prod-aks-kubelet-object",
        "principalType": "ServicePrincipal",
        "roleDefinitionId": f"/subscriptions/{OFFLINE_SUBSCRIPTION}/providers/"
        f"Microsoft.Authorization/roleDefinitions/{ACR_PULL_ROLE}",
        "scope": "prod-registry-acr-id",
    }
    provider = recording.one("pulumi:providers:kubernetes")
    assert pull.urn in provider.dependencies
    assert recording.outputs["registry"] == "todoregistry.azurecr.io"


@pytest.mark.parametrize("name", ["todo-api", "todo"])
def test_a_registry_name_azure_refuses_fails_naming_the_key(name: str) -> None:
    with pytest.raises(ValidationError, match=rf"registry.name='{name}' cannot name an Azure"):
        aks(registry={"enabled": True, "name": name})
