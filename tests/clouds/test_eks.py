"""EKS under mocks: the whole graph, private by default, bounds from settings, one provider."""

from __future__ import annotations

import json

import pulumi
import pytest

from infra.cluster import EksSettings, NodePool
from infra.cluster.eks import REGISTRY_PULL_ACTIONS, EksCluster, EksClusterArgs, subnet_cidrs
from tests.clouds.harness import Recording, build_cluster, secret_flag

EXPECTED_COUNTS = {
    "pulumi:providers:aws": 1,
    "aws:ec2/vpc:Vpc": 1,
    "aws:ec2/internetGateway:InternetGateway": 1,
    "aws:ec2/subnet:Subnet": 6,
    "aws:ec2/eip:Eip": 3,
    "aws:ec2/natGateway:NatGateway": 3,
    "aws:ec2/routeTable:RouteTable": 4,
    "aws:ec2/routeTableAssociation:RouteTableAssociation": 6,
    "aws:iam/role:Role": 3,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": 5,
    "aws:eks/cluster:Cluster": 1,
    "aws:eks/addon:Addon": 2,
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": 1,
    "aws:eks/nodeGroup:NodeGroup": 1,
    "pulumi:providers:kubernetes": 1,
    "kubernetes:storage.k8s.io/v1:StorageClass": 1,
    "todo:infra:EksCluster": 1,
}


def build(settings: EksSettings) -> tuple[Recording, pulumi.Output[str] | None]:
    recording, cluster = build_cluster(
        lambda: EksCluster("prod", EksClusterArgs(settings=settings))
    )
    return recording, cluster.kubeconfig


def eks(**overrides: object) -> EksSettings:
    return EksSettings.model_validate({"provider": "eks", "region": "eu-west-1", **overrides})


def test_the_graph_is_complete() -> None:
    recording, _ = build(eks())
    assert recording.counts() == EXPECTED_COUNTS


def test_zones_come_from_the_availability_zone_lookup() -> None:
    recording, _ = build(eks())
    assert recording.invokes == ["aws:index/getAvailabilityZones:getAvailabilityZones"]
    zones = sorted(s.inputs["availabilityZone"] for s in recording.of_type("aws:ec2/subnet:Subnet"))
    assert zones == sorted(2 * ["eu-west-1a", "eu-west-1b", "eu-west-1c"])


def test_every_aws_resource_uses_the_regional_provider() -> None:
    recording, _ = build(eks(tags={"team": "platform"}))
    aws_provider = recording.one("pulumi:providers:aws")
    assert aws_provider.inputs["region"] == "eu-west-1"
    assert json.loads(aws_provider.inputs["defaultTags"])["tags"]["team"] == "platform"
    aws_resources = [r for r in recording.resources if r.type.startswith("aws:")]
    assert {r.provider_name for r in aws_resources} == {"prod-aws"}


def test_every_kubernetes_resource_uses_the_cluster_provider() -> None:
    recording, _ = build(eks())
    kube = [r for r in recording.resources if r.type.startswith("kubernetes:")]
    assert kube
    assert {r.provider_name for r in kube} == {"prod-k8s"}


def test_provider_has_a_cluster_identifier_and_waits_for_nodes() -> None:
    recording, _ = build(eks())
    provider = recording.one("pulumi:providers:kubernetes")
    assert provider.inputs["clusterIdentifier"].startswith("arn:aws:eks:")
    waits_for = {recording.by_urn(urn).type for urn in provider.dependencies}
    assert {"aws:eks/nodeGroup:NodeGroup", "aws:eks/addon:Addon"} <= waits_for


def test_kubeconfig_is_secret_and_uses_the_aws_auth_plugin() -> None:
    recording, kubeconfig = build(eks())
    assert kubeconfig is not None
    assert secret_flag(kubeconfig)
    user = json.loads(recording.outputs["kubeconfig"])["users"][0]["user"]["exec"]
    assert user["command"] == "aws"
    assert user["args"][:2] == ["eks", "get-token"]
    assert "--region" in user["args"]
    assert "eu-west-1" in user["args"]


def test_node_group_bounds_come_from_settings() -> None:
    pool = NodePool(instance_type="m6i.xlarge", min=3, max=9, disk_gb=80)
    recording, _ = build(eks(node_pool=pool))
    group = recording.one("aws:eks/nodeGroup:NodeGroup")
    assert group.inputs["scalingConfig"] == {"minSize": 3, "maxSize": 9, "desiredSize": 3}
    assert group.inputs["instanceTypes"] == ["m6i.xlarge"]
    assert group.inputs["diskSize"] == 80


def test_nothing_is_public_by_default() -> None:
    recording, _ = build(eks())
    vpc_config = recording.one("aws:eks/cluster:Cluster").inputs["vpcConfig"]
    assert vpc_config["endpointPrivateAccess"] is True
    assert vpc_config["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc_config
    subnets = recording.of_type("aws:ec2/subnet:Subnet")
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in subnets)
    private = [s for s in subnets if "-private-" in s.name]
    group = recording.one("aws:eks/nodeGroup:NodeGroup")
    assert sorted(group.inputs["subnetIds"]) == sorted(f"{s.name}-id" for s in private)


def test_public_endpoint_only_for_the_listed_cidrs() -> None:
    recording, _ = build(eks(api_public_cidrs=["203.0.113.0/24"]))
    vpc_config = recording.one("aws:eks/cluster:Cluster").inputs["vpcConfig"]
    assert vpc_config["endpointPublicAccess"] is True
    assert vpc_config["publicAccessCidrs"] == ["203.0.113.0/24"]


def test_iam_roles_hold_only_the_listed_managed_policies() -> None:
    recording, _ = build(eks())
    attached = sorted(
        a.inputs["policyArn"].rsplit("/", 1)[-1]
        for a in recording.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    )
    assert attached == [
        "AmazonEBSCSIDriverPolicy",
        "AmazonEC2ContainerRegistryPullOnly",
        "AmazonEKSClusterPolicy",
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
    ]


def test_ebs_csi_role_trusts_only_its_service_account() -> None:
    recording, _ = build(eks())
    role = recording.one("aws:iam/role:Role", "prod-ebs-csi-role")
    statement = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    conditions = statement["Condition"]["StringEquals"]
    assert "system:serviceaccount:kube-system:ebs-csi-controller-sa" in conditions.values()
    addon = recording.one("aws:eks/addon:Addon", "prod-ebs-csi")
    assert addon.inputs["serviceAccountRoleArn"].endswith("prod-ebs-csi-role")


def test_vpc_cni_enforces_network_policies() -> None:
    recording, _ = build(eks())
    cni = recording.one("aws:eks/addon:Addon", "prod-vpc-cni")
    assert json.loads(cni.inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}


def test_gp3_is_the_default_storage_class() -> None:
    recording, _ = build(eks())
    storage = recording.one("kubernetes:storage.k8s.io/v1:StorageClass")
    assert storage.inputs["provisioner"] == "ebs.csi.aws.com"
    assert storage.inputs["parameters"]["type"] == "gp3"
    annotations = storage.inputs["metadata"]["annotations"]
    assert annotations["storageclass.kubernetes.io/is-default-class"] == "true"
    assert storage.inputs["volumeBindingMode"] == "WaitForFirstConsumer"


def test_subnets_split_the_vpc_without_overlap() -> None:
    private, public = subnet_cidrs("10.40.0.0/16")
    assert private == ["10.40.0.0/18", "10.40.64.0/18", "10.40.128.0/18"]
    assert public == ["10.40.192.0/20", "10.40.208.0/20", "10.40.224.0/20"]


def test_a_region_with_two_zones_fails_naming_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.cluster import offline

    monkeypatch.setitem(
        offline.OFFLINE_INVOKES,
        "aws:index/getAvailabilityZones:getAvailabilityZones",
        lambda _args: {"id": "x", "names": ["x-1a", "x-1b"], "zoneIds": ["a", "b"]},
    )
    with pytest.raises(Exception, match=r"offers 2 availability zones \(x-1a, x-1b\)"):
        build(eks())


def test_no_registry_unless_enabled() -> None:
    recording, _ = build(eks())
    assert recording.of_type("aws:ecr/repository:Repository") == []
    assert recording.of_type("aws:iam/rolePolicy:RolePolicy") == []


def test_an_enabled_registry_is_an_immutable_scanned_repository_the_nodes_may_pull_from() -> None:
    recording, _ = build(eks(registry={"enabled": True, "name": "todo"}))
    repository = recording.one("aws:ecr/repository:Repository")
    assert repository.inputs["name"] == "todo"
    assert repository.inputs["imageTagMutability"] == "IMMUTABLE"
    assert repository.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    pull = recording.one("aws:iam/rolePolicy:RolePolicy")
    assert pull.inputs["role"] == "prod-node-role"
    (statement,) = json.loads(pull.inputs["policy"])["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Action": list(REGISTRY_PULL_ACTIONS),
        "Resource": "arn:aws:ecr:offline-1:000000000000:repository/todo",
    }
    provider = recording.one("pulumi:providers:kubernetes")
    assert pull.urn in provider.dependencies
    assert recording.outputs["registry"] == "000000000000.dkr.ecr.offline-1.amazonaws.com/todo"
